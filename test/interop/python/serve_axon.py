"""A Python bittensor.Axon serving StreamPrompting, for ChatTensor's dendrite.

Usage: serve_axon.py <wallet_path> <port> <allowed_hotkey>
Answers each prompt by streaming back "echo: <last message>" in small chunks.
Prints "READY <hotkey>" once listening; records each verified caller.
"""

import asyncio
import socket
import sys
import time
from functools import partial
from typing import Tuple

import common  # noqa: F401  (patches external IP discovery)
import bittensor as bt
from bittensor_wallet import Wallet

from chat_synapse import StreamPrompting

wallet_path, port, allowed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
wallet = Wallet(name="axon", hotkey="default", path=wallet_path)


async def stream_answer(text: str, send):
    for i in range(0, len(text), 3):
        await send({"type": "http.response.body", "body": text[i : i + 3].encode("utf-8"), "more_body": True})
        await asyncio.sleep(0.01)


def forward(synapse: StreamPrompting) -> StreamPrompting.BTStreamingResponse:
    answer = "echo: " + synapse.messages[-1]
    return synapse.create_streaming_response(partial(stream_answer, answer))


def blacklist(synapse: StreamPrompting) -> Tuple[bool, str]:
    if synapse.dendrite.hotkey != allowed:
        return True, "not an allowed validator"
    return False, "allowed"


axon = bt.Axon(wallet=wallet, port=port, ip="127.0.0.1", external_ip="127.0.0.1")
axon.attach(forward_fn=forward, blacklist_fn=blacklist)
axon.start()
# The server runs in a thread that binds the port a moment later: READY only once it accepts.
deadline = time.monotonic() + 60
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
print(f"READY {wallet.hotkey.ss58_address}", flush=True)
try:
    while True:
        time.sleep(1)
except KeyboardInterrupt:
    axon.stop()
