"""A Python bittensor.Dendrite querying an axon with StreamPrompting.

Usage: query_axon.py <uri_of_dendrite_key> <ip> <port> <axon_hotkey> <request_json>
request_json: {"roles": [...], "messages": [...], "timeout": 12, ...sampling}
Prints one JSON line: the chunks received and the final synapse as the SDK saw it.
"""

import asyncio
import json
import sys

import common  # noqa: F401  (patches external IP discovery)
import bittensor as bt
from bittensor_wallet import Keypair

from chat_synapse import StreamPrompting

uri, ip, port, axon_hotkey, request = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])


class ForgingDendrite(bt.Dendrite):
    """Signs with its own key but claims another hotkey: what an impostor does."""

    def __init__(self, wallet, claimed_hotkey):
        super().__init__(wallet=wallet)
        self.claimed_hotkey = claimed_hotkey

    def preprocess_synapse_for_request(self, target_axon_info, synapse, timeout=12.0):
        synapse = super().preprocess_synapse_for_request(target_axon_info, synapse, timeout)
        synapse.dendrite.hotkey = self.claimed_hotkey
        return synapse


async def main():
    keypair = Keypair.create_from_uri(uri)
    claimed = request.pop("claim_hotkey", None)
    dendrite = ForgingDendrite(keypair, claimed) if claimed else bt.Dendrite(wallet=keypair)
    axon = bt.AxonInfo(version=0, ip=ip, port=port, ip_type=4, hotkey=axon_hotkey, coldkey=axon_hotkey)
    timeout = request.pop("timeout", 12)
    synapse = StreamPrompting(**request)
    chunks = []
    final = None
    async with dendrite:
        async for item in await dendrite.forward(axons=axon, synapse=synapse, timeout=timeout, streaming=True, deserialize=False):
            if isinstance(item, StreamPrompting):
                final = item
            else:
                chunks.append(item)
    print(
        json.dumps(
            {
                "chunks": chunks,
                "completion": final.completion,
                "status_code": final.dendrite.status_code,
                "status_message": final.dendrite.status_message,
                "axon_status_code": final.axon.status_code,
                "axon_hotkey": final.axon.hotkey,
                "axon_signature": final.axon.signature,
                "axon_nonce": str(final.axon.nonce),
                "axon_uuid": final.axon.uuid,
                "dendrite_hotkey": final.dendrite.hotkey,
                "is_success": final.is_success,
            }
        ),
        flush=True,
    )


asyncio.run(main())
