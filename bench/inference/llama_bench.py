"""llama.cpp (llama-cpp-python) on a GGUF, measured the way engine-worker.ts
measures the ChatTensor engine, in its own process: batch-1 greedy decode
tok/s (time between the first and the last new token), time to first token
for a given prompt, and peak RSS (VmHWM). Prints one JSON line.

    python llama_bench.py '{"gguf": ..., "threads": 2, "decode_prompt": [...],
                            "decode_tokens": 64, "ttft_prompt": [...], "repeats": 2}'
"""

import json
import re
import sys
import time

import numpy as np
from llama_cpp import Llama


def peak_rss_mib():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+) kB", status.read()).group(1)) / 1024


def main():
    job = json.loads(sys.argv[1])
    started = time.perf_counter()
    llm = Llama(
        model_path=job["gguf"],
        n_ctx=max(1024, len(job["ttft_prompt"]) + 64, len(job["decode_prompt"]) + job["decode_tokens"] + 8),
        n_batch=512,
        n_ubatch=512,
        n_threads=job["threads"],
        n_threads_batch=job["threads"],
        verbose=False,
    )
    load_seconds = time.perf_counter() - started

    def next_token():
        # The last evaluated token's logits (llama-cpp-python keeps scores only with logits_all).
        return int(np.argmax(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))))

    decode = 0.0
    for _ in range(job["repeats"]):
        llm.reset()
        llm.eval(job["decode_prompt"])
        token = next_token()
        first = time.perf_counter()
        for _ in range(job["decode_tokens"]):
            llm.eval([token])
            token = next_token()
        decode = max(decode, job["decode_tokens"] / (time.perf_counter() - first))

    ttft = float("inf")
    for _ in range(job["repeats"]):
        llm.reset()
        begin = time.perf_counter()
        llm.eval(job["ttft_prompt"])
        next_token()
        ttft = min(ttft, time.perf_counter() - begin)

    print(json.dumps({"loadSeconds": load_seconds, "decodeTokensPerSecond": decode, "ttftSeconds": ttft, "ttftPromptTokens": len(job["ttft_prompt"]), "peakRssMiB": peak_rss_mib()}))


if __name__ == "__main__":
    main()
