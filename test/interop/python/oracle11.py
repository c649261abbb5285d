"""The current Python SDK (bittensor 11.3.0) as an oracle for ChatTensor's
interop tests: btauth/1 (bittensor.http_auth), keys and wallets, weights.

Reads one JSON request per line on stdin ({"id", "op", ...}) and answers one
JSON line on stdout ({"id", "result"} or {"id", "error"}). Every answer comes
from the pinned bittensor / bittensor_core code, never from a copy of it.
"""

import json
import os
import sys
import traceback

# Answers go to the original stdout; anything the libraries print or log goes to stderr.
_answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr

import bittensor as bt
import bittensor_core as core
from bittensor import http_auth
from bittensor.intents import weights as sdk_weights
from bittensor.result import BittensorError

# One seen-nonce store per oracle process, like one server process.
_store = http_auth.InMemoryNonceStore()


def _keypair(req):
    crypto = req.get("crypto_type", core.CRYPTO_SR25519)
    if "mnemonic" in req:
        return core.Keypair.create_from_mnemonic(req["mnemonic"], crypto)
    return core.Keypair.create_from_uri(req["uri"], crypto)


def op_version(_req):
    return {"version": bt.__version__}


def op_keypair(req):
    kp = _keypair(req)
    out = {"ss58": kp.ss58_address, "public_key": "0x" + bytes(kp.public_key).hex(), "crypto_type": kp.crypto_type}
    if "message" in req:
        out["signature"] = "0x" + bytes(kp.sign(req["message"].encode("utf-8"))).hex()
    return out


def op_verify(req):
    return core.verify(req["message"].encode("utf-8"), bytes.fromhex(req["signature"].removeprefix("0x")), req["ss58"], req.get("crypto_type", core.CRYPTO_SR25519))


def op_btauth_payload(req):
    return http_auth.build_payload(
        scheme=req["scheme"],
        method=req["method"],
        path=req["path"],
        body=bytes.fromhex(req["body"]),
        nonce_ns=int(req["nonce"]),
        sender_ss58=req["sender"],
        receiver_ss58=req.get("receiver"),
    ).hex()


def op_btauth_sign(req):
    return http_auth.sign(
        _keypair(req),
        method=req["method"],
        path=req["path"],
        body=bytes.fromhex(req["body"]),
        receiver_ss58=req.get("receiver"),
        nonce_ns=int(req["nonce"]) if "nonce" in req else None,
    )


def op_btauth_verify(req):
    try:
        caller = http_auth.verify(
            req["headers"],
            bytes.fromhex(req["body"]),
            method=req["method"],
            path=req["path"],
            self_hotkey_ss58=req["self"],
            require_receiver=req.get("require_receiver", True),
            nonce_store=_store if req.get("shared_store", True) else http_auth.InMemoryNonceStore(),
            now_ns=int(req["now"]) if "now" in req else None,
        )
    except http_auth.AuthError as error:
        return {"error": type(error).__name__, "message": str(error)}
    return {"hotkey": caller.hotkey_ss58, "nonce": str(caller.nonce_ns), "crypto_type": caller.crypto_type}


def op_create_wallet(req):
    wallet = bt.Wallet(name=req["name"], hotkey=req["hotkey"], path=req["path"])
    wallet.create_new_hotkey(overwrite=True, suppress=True, crypto_type=req.get("crypto_type", core.CRYPTO_SR25519))
    hotkey = wallet.get_hotkey()
    return {"hotkey": hotkey.ss58_address, "crypto_type": hotkey.crypto_type}


def op_load_hotkey(req):
    wallet = bt.Wallet(name=req["name"], hotkey=req["hotkey"], path=req["path"])
    try:
        hotkey = wallet.get_hotkey()
    except Exception as error:  # noqa: BLE001  (the test looks at the refusal)
        return {"error": type(error).__name__, "message": str(error)}
    out = {"hotkey": hotkey.ss58_address, "crypto_type": hotkey.crypto_type}
    if "message" in req:
        out["signature"] = "0x" + bytes(hotkey.sign(req["message"].encode("utf-8"))).hex()
    return out


def op_conform_weights(req):
    """The SDK's SetWeights conforming step, with the preflight answered from the request."""
    preflight = sdk_weights._Preflight(
        uid=req.get("self_uid", -1),
        commit_reveal=False,
        min_allowed_weights=req["min_allowed_weights"],
        max_weight_limit=req["max_weight_limit"],
    )
    try:
        uids, weights = sdk_weights._as_pairs(req["uids"], req["weights"])
        uids, values = sdk_weights._conform(uids, weights, preflight, netuid=1)
    except (BittensorError, ZeroDivisionError) as error:
        return {"error": type(error).__name__, "message": str(error)}
    return {"uids": uids, "weights": values}


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}

for line in sys.stdin:
    if not line.strip():
        continue
    req = json.loads(line)
    try:
        out = {"id": req["id"], "result": OPS[req["op"]](req)}
    except Exception as e:  # reported to the test, which decides
        out = {"id": req["id"], "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
    _answers.write(json.dumps(out) + "\n")
    _answers.flush()
