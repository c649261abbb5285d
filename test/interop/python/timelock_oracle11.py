"""bittensor 11.x: bittensor_core (Rust `tle` inside) and the SDK's timelocked
commit builder as an oracle for the timelock interop test; the same operations
as timelock_oracle.py answers from bittensor 10.5.0.

Reads one JSON request per line on stdin ({"id", "op", ...}) and answers one
JSON line on stdout ({"id", "result"} or {"id", "error"}). Nothing here talks
to drand or a chain: signatures come from the request, and the SDK builder is
given a stand-in substrate that answers from the request and records the call.
"""

import asyncio
import json
import os
import sys
import time
import traceback

_answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr

import bittensor_core as bittensor_drand  # the same functions, now in the SDK's own core
from bittensor.intents import weights as sdk_weights

GENESIS = 1692803367
PERIOD = 3


def op_decrypt_with_signature(req):
    return bittensor_drand.decrypt_with_signature(bytes.fromhex(req["envelope"]), req["signature"]).hex()


def op_encrypt_at_round(req):
    envelope, round_ = bittensor_drand.encrypt_at_round(bytes.fromhex(req["data"]), req["round"])
    return {"envelope": envelope.hex(), "round": round_}


def _commit_v2(req, block_time):
    return bittensor_drand.get_encrypted_commit_v2(
        uids=req["uids"],
        weights=req["weights"],
        version_key=req["version_key"],
        last_epoch_block=req["state"]["last_epoch_block"],
        pending_epoch_at=req["state"]["pending_epoch_at"],
        subnet_epoch_index=req["state"]["subnet_epoch_index"],
        tempo=req["state"]["tempo"],
        blocks_since_last_step=req["state"]["blocks_since_last_step"],
        current_block=req["state"]["current_block"],
        subnet_reveal_period_epochs=req["reveal_period"],
        block_time=block_time,
        hotkey=bytes.fromhex(req["hotkey"]),
    )


def op_commit_v2(req):
    before = time.time()
    commit, round_ = _commit_v2(req, req["block_time"])
    return {"commit": commit.hex(), "round": round_, "before": before, "after": time.time()}


def _block_time_for_round(req, target_round, probe):
    """A block time that puts the library's own reveal-block prediction on `target_round`.

    With a 3000 s block every predicted block moves the round by 1000, so one
    probe call tells how many blocks the library counts from the head to its
    target block; the block time is then chosen so that count lands in the
    middle of the target round's 3 s.
    """
    now = time.time()
    _, probe_round = probe(3000.0)
    blocks = round((probe_round * PERIOD + GENESIS - now) / 3000.0)
    now = time.time()
    return ((GENESIS + target_round * PERIOD + PERIOD / 2) - now) / blocks, blocks


def op_commit_v2_at_round(req):
    block_time, blocks = _block_time_for_round(req, req["round"], lambda bt: _commit_v2(req, bt))
    commit, round_ = _commit_v2(req, block_time)
    return {"commit": commit.hex(), "round": round_, "blocks": blocks}


class _StandInSubstrate:
    """What the SDK's timelocked commit builder reads from the chain, answered from the request."""

    STORAGE = {
        "Tempo": "tempo",
        "LastEpochBlock": "last_epoch_block",
        "PendingEpochAt": "pending_epoch_at",
        "SubnetEpochIndex": "subnet_epoch_index",
        "BlocksSinceLastStep": "blocks_since_last_step",
    }

    def __init__(self, req, block_time):
        self.req = req
        self.seconds_per_block = block_time
        self.calls = []

    async def block_number(self):
        return self.req["state"]["current_block"]

    async def block_hash(self, number):
        return "0x" + format(number, "064x")

    async def block_time(self):
        return self.seconds_per_block

    async def query(self, module, name, *args, block_hash=None):
        if name == "RevealPeriodEpochs":
            return self.req["reveal_period"]
        return self.req["state"][self.STORAGE[name]]

    async def compose(self, call):
        self.calls.append(call)
        return call


def op_sdk_commit_at_round(req):
    """The SDK's own timelocked commit (SetWeights' normalize, then its builder), with a block time that lands it on `round`."""
    hotkey = bittensor_drand.Keypair.create_from_uri(req["hotkey_uri"], bittensor_drand.CRYPTO_SR25519)
    uids, values = sdk_weights.normalize(req["uids"], req["weights"])

    def run(block_time):
        substrate = _StandInSubstrate(req, block_time)
        built = asyncio.run(
            sdk_weights._build_timelocked(
                substrate,
                bytes(hotkey.public_key),
                req["netuid"],
                0,
                uids,
                values,
                req["version_key"],
                sdk_weights.DEFAULT_COMMIT_REVEAL_VERSION,
            )
        )
        return built.call, built.extras["reveal_round"]

    block_time, _ = _block_time_for_round(req, req["round"], run)
    call, round_ = run(block_time)
    params = call.params
    return {
        "module": call.module,
        "function": call.function,
        "netuid": params["netuid"],
        "mecid": params["mecid"],
        "commit": bytes(params["commit"]).hex(),
        "round": round_,
        "commit_reveal_version": params["commit_reveal_version"],
        "hotkey": bytes(hotkey.public_key).hex(),
    }


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}

for line in sys.stdin:
    req = json.loads(line)
    try:
        answer = {"id": req["id"], "result": OPS[req["op"]](req)}
    except Exception as error:  # noqa: BLE001  (every failure goes back to the test)
        answer = {"id": req["id"], "error": repr(error), "trace": traceback.format_exc()}
    _answers.write(json.dumps(answer) + "\n")
    _answers.flush()
