"""What both timelock oracles share (bittensor 10.5.0's bittensor-drand and
11.x's bittensor_core expose the same Rust `tle` functions): the drand
operations, the block time that lands an SDK commit on a chosen round, and the
JSON-lines loop.

Reads one JSON request per line on stdin ({"id", "op", ...}) and answers one
JSON line on stdout ({"id", "result"} or {"id", "error"}). Nothing here talks
to drand or a chain: signatures come from the request.
"""

import json
import os
import sys
import time
import traceback

# Answers go to the real stdout; anything the SDK prints goes to stderr.
_answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr

drand = None  # the module with the `tle` functions, set by serve()

GENESIS = 1692803367
PERIOD = 3


def op_decrypt_with_signature(req):
    return drand.decrypt_with_signature(bytes.fromhex(req["envelope"]), req["signature"]).hex()


def op_encrypt_at_round(req):
    envelope, round_ = drand.encrypt_at_round(bytes.fromhex(req["data"]), req["round"])
    return {"envelope": envelope.hex(), "round": round_}


def _commit_v2(req, block_time):
    return drand.get_encrypted_commit_v2(
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


def serve(drand_module, sdk_commit_at_round):
    """Answers requests until stdin closes; `sdk_commit_at_round` is the SDK-specific op."""
    global drand
    drand = drand_module
    ops = {
        "decrypt_with_signature": op_decrypt_with_signature,
        "encrypt_at_round": op_encrypt_at_round,
        "commit_v2": op_commit_v2,
        "commit_v2_at_round": op_commit_v2_at_round,
        "sdk_commit_at_round": sdk_commit_at_round,
    }
    for line in sys.stdin:
        req = json.loads(line)
        try:
            answer = {"id": req["id"], "result": ops[req["op"]](req)}
        except Exception as error:  # noqa: BLE001  (every failure goes back to the test)
            answer = {"id": req["id"], "error": repr(error), "trace": traceback.format_exc()}
        _answers.write(json.dumps(answer) + "\n")
        _answers.flush()
