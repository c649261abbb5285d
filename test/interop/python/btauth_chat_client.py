"""A current-SDK validator's view of a ChatTensor miner: streams one chat
answer from the miner's public port with a btauth/1-signed request, using
only bittensor (11.x) and the standard library's HTTP client.

Usage: btauth_chat_client.py HOST PORT MINER_HOTKEY KEY_URI CRYPTO_TYPE PROMPT
Prints one JSON line: the status, the streamed text, the token ids and the usage.
"""

import http.client
import json
import sys

import bittensor as bt
import bittensor_core as core

host, port, miner_hotkey, key_uri, crypto_type, prompt = sys.argv[1:7]
keypair = core.Keypair.create_from_uri(key_uri, int(crypto_type))

body = json.dumps(
    {
        "model": "chattensor",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 8,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
).encode()
path = "/v1/chat/completions"
headers = bt.http_auth.sign(keypair, method="POST", path=path, body=body, receiver_ss58=miner_hotkey)
headers["Content-Type"] = "application/json"

connection = http.client.HTTPConnection(host, int(port), timeout=60)
connection.request("POST", path, body=body, headers=headers)
response = connection.getresponse()
out = {"status": response.status, "text": "", "token_ids": [], "usage": None, "finish_reason": None, "done": False}
if response.status != 200:
    out["error"] = json.loads(response.read())["error"]
else:
    buffer = b""
    while True:
        line = response.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        data = line[len(b"data: "):]
        if data == b"[DONE]":
            out["done"] = True
            break
        chunk = json.loads(data)
        if chunk.get("usage"):
            out["usage"] = chunk["usage"]
        for choice in chunk.get("choices", []):
            out["text"] += choice.get("delta", {}).get("content") or ""
            out["token_ids"] += choice.get("token_ids", [])
            out["finish_reason"] = choice.get("finish_reason") or out["finish_reason"]
print(json.dumps(out))
