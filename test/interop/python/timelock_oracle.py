"""bittensor-drand (Rust `tle` inside) and the SDK's timelocked commit helper
as an oracle for the timelock interop test.

Reads one JSON request per line on stdin ({"id", "op", ...}) and answers one
JSON line on stdout ({"id", "result"} or {"id", "error"}). Nothing here talks
to drand or a chain: signatures come from the request, and the SDK helper is
given a stand-in Subtensor that answers from the request and records the call.
"""

import tempfile

# First: it sends what the SDK prints to stderr, keeping stdout for the answers.
from timelock_oracle_common import _block_time_for_round, serve

import bittensor_drand
from bittensor.core.extrinsics.weights import commit_timelocked_weights_extrinsic
from bittensor.core.types import EpochScheduleState, ExtrinsicResponse
from bittensor_wallet import Keypair, Wallet


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


serve(bittensor_drand, op_sdk_commit_at_round)
