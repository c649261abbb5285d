"""The StreamPrompting synapse as text-prompting subnets declare it in Python.

ChatTensor's TypeScript definition (libs/bittensor, stream-prompting.ts) must
stay wire-compatible with this class: same route name, same required fields,
same body hash fields, raw UTF-8 text chunks.
"""

import codecs
from typing import ClassVar, List, Optional

import bittensor as bt
from pydantic import Field


class StreamPrompting(bt.StreamingSynapse):
    roles: List[str] = Field(..., frozen=True)
    messages: List[str] = Field(..., frozen=True)
    completion: str = ""
    max_tokens: Optional[int] = None
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    seed: Optional[int] = None

    required_hash_fields: ClassVar[tuple[str, ...]] = ("messages",)

    async def process_streaming_response(self, response):
        if self.completion is None:
            self.completion = ""
        # A chunk boundary may split a multi-byte character.
        decoder = codecs.getincrementaldecoder("utf-8")()
        async for chunk in response.content.iter_any():
            text = decoder.decode(chunk)
            if text:
                self.completion += text
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            self.completion += tail
            yield tail

    def deserialize(self) -> str:
        return self.completion

    def extract_response_json(self, response) -> dict:
        headers = {k.decode("utf-8"): v.decode("utf-8") for k, v in response.__dict__["_raw_headers"]}

        def terminal(prefix):
            return {key[len(prefix):]: value for key, value in headers.items() if key.startswith(prefix)}

        return {
            "name": headers.get("name", ""),
            "timeout": float(headers.get("timeout", 0)),
            "total_size": int(headers.get("total_size", 0)),
            "header_size": int(headers.get("header_size", 0)),
            "dendrite": terminal("bt_header_dendrite_"),
            "axon": terminal("bt_header_axon_"),
            "roles": self.roles,
            "messages": self.messages,
            "completion": self.completion,
        }
