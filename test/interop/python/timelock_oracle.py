"""bittensor-drand (Rust `tle` inside) and the SDK's timelocked commit helper
as an oracle for the timelock interop test.

Reads one JSON request per line on stdin ({"id", "op", ...}) and answers one
JSON line on stdout ({"id", "result"} or {"id", "error"}). Nothing here talks
to drand or a chain: signatures come from the request, and the SDK helper is
given a stand-in Subtensor that answers from the request and records the call.
"""

import json
import os
import sys
import tempfile
import time
import traceback

_answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr

import bittensor_drand
from bittensor.core.extrinsics.weights import commit_timelocked_weights_extrinsic
from bittensor.core.types import EpochScheduleState, ExtrinsicResponse
from bittensor_wallet import Keypair, Wallet

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


class _StandInSubtensor:
    """What commit_timelocked_weights_extrinsic reads from a Subtensor, answered from the request."""

    def __init__(self, req):
        self.req = req
        self.calls = []

    def get_current_block(self):
        return self.req["state"]["current_block"]

    def get_subnet_hyperparameters(self, netuid, block=None):
        return type("Hyperparameters", (), {"commit_reveal_period": self.req["reveal_period"]})()

    def get_epoch_schedule_state(self, netuid, block=None):
        s = self.req["state"]
        return EpochScheduleState(
            last_epoch_block=s["last_epoch_block"],
            pending_epoch_at=s["pending_epoch_at"],
            subnet_epoch_index=s["subnet_epoch_index"],
            tempo=s["tempo"],
            blocks_since_last_step=s["blocks_since_last_step"],
            current_block=s["current_block"],
        )

    def compose_call(self, call_module, call_function, call_params):
        self.calls.append({"module": call_module, "function": call_function, "params": call_params})
        return self.calls[-1]

    def sign_and_send_extrinsic(self, **kwargs):
        return ExtrinsicResponse(success=True, message="recorded, not sent")


_wallet_dir = tempfile.mkdtemp(prefix="timelock-oracle-")


def _wallet(uri):
    wallet = Wallet(name="timelock", hotkey="default", path=_wallet_dir)
    wallet.set_hotkey(Keypair.create_from_uri(uri), encrypt=False, overwrite=True)
    return wallet


def op_sdk_commit_at_round(req):
    """The SDK's own timelocked commit helper, with a block time that lands it on `round`."""
    wallet = _wallet(req["hotkey_uri"])

    def run(block_time):
        subtensor = _StandInSubtensor(req)
        response = commit_timelocked_weights_extrinsic(
            subtensor=subtensor,
            wallet=wallet,
            netuid=req["netuid"],
            mechid=0,
            uids=req["uids"],
            weights=req["weights"],
            block_time=block_time,
            version_key=req["version_key"],
            mev_protection=False,
            raise_error=True,
        )
        assert response.success, response.message
        call = subtensor.calls[-1]
        return call, call["params"]["reveal_round"]

    block_time, _ = _block_time_for_round(req, req["round"], run)
    call, round_ = run(block_time)
    params = call["params"]
    return {
        "module": call["module"],
        "function": call["function"],
        "netuid": params["netuid"],
        "mecid": params["mecid"],
        "commit": params["commit"].hex(),
        "round": round_,
        "commit_reveal_version": params["commit_reveal_version"],
        "hotkey": wallet.hotkey.public_key.hex(),
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
