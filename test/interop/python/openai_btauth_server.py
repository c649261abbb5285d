"""A miner that is not ChatTensor at all: a plain OpenAI-compatible chat
server (standard library http.server) behind a btauth/1 check written with
the current SDK (bittensor.http_auth.verify), allowing one validator hotkey.

Usage: openai_btauth_server.py PORT MINER_KEY_URI ALLOWED_VALIDATOR_SS58
Prints `READY <port> <hotkey>` once listening. The answer echoes the last user
message word by word, as SSE chunks without token ids (as most OpenAI servers
send them), with usage when the caller asks for it.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import bittensor as bt
import bittensor_core as core

port, key_uri, allowed = int(sys.argv[1]), sys.argv[2], sys.argv[3]
keypair = core.Keypair.create_from_uri(key_uri, core.CRYPTO_SR25519)
nonces = bt.http_auth.InMemoryNonceStore()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, kind, message):
        self._json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            with lock:
                caller = bt.http_auth.verify(
                    dict(self.headers.items()), body, method="POST", path=self.path, self_hotkey_ss58=keypair.ss58_address, nonce_store=nonces
                )
        except bt.http_auth.WrongReceiver as error:
            return self._error(403, "permission_error", str(error))
        except bt.http_auth.AuthError as error:
            return self._error(401, "authentication_error", str(error))
        if caller.hotkey_ss58 != allowed:
            return self._error(403, "permission_error", "caller is not an allowed validator")
        if self.path != "/v1/chat/completions":
            return self._error(404, "invalid_request_error", "not found")
        request = json.loads(body)
        last = [m["content"] for m in request["messages"] if m["role"] == "user"][-1]
        words = f"you said: {last}".split(" ")
        words = words[: request.get("max_tokens") or len(words)]
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        created = int(time.time())
        if not request.get("stream"):
            return self._json(
                200,
                {
                    "id": "chatcmpl-plain",
                    "object": "chat.completion",
                    "created": created,
                    "model": "plain-echo",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(pieces)}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": len(last.split()), "completion_tokens": len(pieces), "total_tokens": len(last.split()) + len(pieces)},
                },
            )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()

        def send(payload):
            self.wfile.write(f"data: {payload}\n\n".encode())
            self.wfile.flush()

        def chunk(choices, **extra):
            return json.dumps({"id": "chatcmpl-plain", "object": "chat.completion.chunk", "created": created, "model": "plain-echo", "choices": choices, **extra})

        send(chunk([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]))
        for piece in pieces:
            send(chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]))
        send(chunk([{"index": 0, "delta": {}, "finish_reason": "length" if len(pieces) < len(f"you said: {last}".split(" ")) else "stop"}]))
        if (request.get("stream_options") or {}).get("include_usage"):
            send(chunk([], usage={"prompt_tokens": len(last.split()), "completion_tokens": len(pieces), "total_tokens": len(last.split()) + len(pieces)}))
        send("[DONE]")
        self.close_connection = True


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
print(f"READY {server.server_address[1]} {keypair.ss58_address}", flush=True)
server.serve_forever()
