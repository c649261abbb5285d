"""bittensor 11.x: bittensor_core (Rust `tle` inside) and the SDK's timelocked
commit builder as an oracle for the timelock interop test; the same operations
as timelock_oracle.py answers from bittensor 10.5.0.

Reads one JSON request per line on stdin ({"id", "op", ...}) and answers one
JSON line on stdout ({"id", "result"} or {"id", "error"}). Nothing here talks
to drand or a chain: signatures come from the request, and the SDK builder is
given a stand-in substrate that answers from the request and records the call.
"""

import asyncio

# First: it sends what the SDK prints to stderr, keeping stdout for the answers.
from timelock_oracle_common import _block_time_for_round, serve

import bittensor_core as bittensor_drand  # the same functions, now in the SDK's own core
from bittensor.intents import weights as sdk_weights


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


serve(bittensor_drand, op_sdk_commit_at_round)
