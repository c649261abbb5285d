"""The Python SDK as an oracle for ChatTensor's interop tests.

Reads one JSON request per line on stdin ({"id", "op", ...}) and answers one
JSON line on stdout ({"id", "result"} or {"id", "error"}). Every answer comes
from the pinned bittensor / bittensor-wallet code, never from a copy of it.
"""

import json
import os
import sys
import traceback

# Answers go to the original stdout; anything the libraries print or log goes to stderr.
_answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr

import common  # noqa: F401  (patches external IP discovery)
import numpy as np
import bittensor as bt
from bittensor.core.settings import version_as_int
from bittensor.utils import networking
from bittensor.utils import weight_utils
from bittensor_wallet import Keypair, Wallet
import bittensor_wallet.keyfile as keyfile
from pydantic import BaseModel
from typing import Any, ClassVar

from chat_synapse import StreamPrompting


class AnyPayload(bt.Synapse):
    payload: Any = None
    required_hash_fields: ClassVar[tuple[str, ...]] = ("payload",)


def op_body_hash(req):
    if req.get("synapse") == "StreamPrompting":
        return StreamPrompting(**req["fields"]).body_hash
    # The payload arrives as JSON text so floats stay floats, as in a request body.
    return AnyPayload(payload=json.loads(req["payload_json"])).body_hash


def op_py_str(req):
    return str(json.loads(req["json"]))


def op_keypair(req):
    kp = Keypair.create_from_uri(req["uri"]) if "uri" in req else Keypair.create_from_mnemonic(req["mnemonic"])
    return {"ss58": kp.ss58_address, "public_key": "0x" + kp.public_key.hex()}


def op_ss58_encode(req):
    return Keypair(public_key=req["public_key"], ss58_format=42).ss58_address


def op_sign(req):
    kp = Keypair.create_from_uri(req["uri"])
    return "0x" + kp.sign(req["message"].encode("utf-8")).hex()


def op_verify(req):
    return Keypair(ss58_address=req["ss58"]).verify(req["message"].encode("utf-8"), bytes.fromhex(req["signature"][2:]))


def op_process_weights(req):
    uids = np.array(req["uids"], dtype=np.int64)
    weights = np.array(req["weights"], dtype=np.float32)
    p_uids, p_weights = weight_utils.process_weights(
        uids=uids,
        weights=weights,
        num_neurons=req["num_neurons"],
        min_allowed_weights=req["min_allowed_weights"],
        max_weight_limit=req["max_weight_limit"],
        exclude_quantile=req["exclude_quantile"],
    )
    e_uids, e_weights = weight_utils.convert_weights_and_uids_for_emit(p_uids, p_weights)
    return {
        "processed_uids": [int(u) for u in p_uids.tolist()],
        "processed_weights": [float(w) for w in p_weights.tolist()],
        "dtype": str(p_weights.dtype),
        "uids": [int(u) for u in e_uids],
        "weights": [int(w) for w in e_weights],
    }


def op_weight_hash(req):
    return weight_utils.generate_weight_hash(
        address=req["hotkey"], netuid=req["netuid"], uids=req["uids"], values=req["weights"], version_key=int(req["version_key"]), salt=req["salt"]
    )


def op_ip(req):
    as_int = networking.ip_to_int(req["ip"])
    return {"int": str(as_int), "version": networking.ip_version(req["ip"]), "back": networking.int_to_ip(as_int)}


def op_int_to_ip(req):
    return networking.int_to_ip(int(req["int"]))


def op_version(_req):
    return {"version": bt.__version__, "version_as_int": version_as_int}


def op_create_wallet(req):
    wallet = Wallet(name=req["name"], hotkey=req["hotkey"], path=req["path"])
    password = req.get("coldkey_password")
    wallet.create_new_coldkey(use_password=password is not None, coldkey_password=password, overwrite=True, suppress=True)
    wallet.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    return {"hotkey": wallet.hotkey.ss58_address, "coldkeypub": wallet.coldkeypub.ss58_address}


def op_load_wallet(req):
    wallet = Wallet(name=req["name"], hotkey=req["hotkey"], path=req["path"])
    hotkey = wallet.get_hotkey()
    out = {"hotkey": hotkey.ss58_address, "coldkeypub": wallet.get_coldkeypub().ss58_address}
    if "message" in req:
        out["hotkey_signature"] = "0x" + hotkey.sign(req["message"].encode("utf-8")).hex()
    if "coldkey_password" in req:
        coldkey = wallet.get_coldkey(password=req["coldkey_password"])
        out["coldkey"] = coldkey.ss58_address
        if "message" in req:
            out["coldkey_signature"] = "0x" + coldkey.sign(req["message"].encode("utf-8")).hex()
    return out


def op_decrypt(req):
    return keyfile.decrypt_keyfile_data(bytes.fromhex(req["data"]), password=req["password"]).decode("utf-8")


def op_encrypt(req):
    return keyfile.encrypt_keyfile_data(req["text"].encode("utf-8"), req["password"]).hex()


def op_epistula_sign(req):
    """Epistula v2 headers built the way the reference implementation builds them."""
    from hashlib import sha256
    from math import ceil

    kp = Keypair.create_from_uri(req["uri"])
    body, timestamp, uuid, signed_for = req["body"].encode("utf-8"), req["timestamp"], req["uuid"], req.get("signed_for")
    message = f"{sha256(body).hexdigest()}.{uuid}.{timestamp}.{signed_for or ''}"
    headers = {
        "Epistula-Version": "2",
        "Epistula-Timestamp": str(timestamp),
        "Epistula-Uuid": uuid,
        "Epistula-Signed-By": kp.ss58_address,
        "Epistula-Request-Signature": "0x" + kp.sign(message).hex(),
    }
    if signed_for:
        headers["Epistula-Signed-For"] = signed_for
        interval = ceil(timestamp / 1e4) * 1e4
        for i, offset in enumerate([-1, 0, 1]):
            headers[f"Epistula-Secret-Signature-{i}"] = "0x" + kp.sign(f"{interval + offset}.{signed_for}").hex()
    return headers


def op_epistula_verify(req):
    """The reference verification of Epistula v2 headers against the body."""
    from hashlib import sha256

    h = req["headers"]
    signed_for = h.get("Epistula-Signed-For")
    message = f"{sha256(req['body'].encode('utf-8')).hexdigest()}.{h['Epistula-Uuid']}.{h['Epistula-Timestamp']}.{signed_for or ''}"
    keypair = Keypair(ss58_address=h["Epistula-Signed-By"])
    ok = keypair.verify(message, bytes.fromhex(h["Epistula-Request-Signature"][2:]))
    secrets = []
    if signed_for:
        from math import ceil

        interval = ceil(int(h["Epistula-Timestamp"]) / 1e4) * 1e4
        for i, offset in enumerate([-1, 0, 1]):
            secrets.append(keypair.verify(f"{interval + offset}.{signed_for}", bytes.fromhex(h[f"Epistula-Secret-Signature-{i}"][2:])))
    return {"request": ok, "secrets": secrets}


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}

for line in sys.stdin:
    if not line.strip():
        continue
    req = json.loads(line)
    try:
        result = OPS[req["op"]](req)
        out = {"id": req["id"], "result": result}
    except Exception as e:  # reported to the test, which decides
        out = {"id": req["id"], "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
    _answers.write(json.dumps(out) + "\n")
    _answers.flush()
