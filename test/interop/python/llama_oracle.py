"""llama.cpp (through the pinned llama-cpp-python) as an oracle for the GGUF
importer and the inference engine.

Same protocol as oracle.py: one JSON request per line on stdin ({"id", "op",
...}), one JSON answer per line on stdout. Every answer comes from llama.cpp's
own code on the same GGUF file: its tokenizer, its forward pass, and
llama-cpp-python's Jinja2 chat formatter for the GGUF's template.
"""

import ctypes
import json
import os
import sys
import time
import traceback

_answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr

import numpy as np
import llama_cpp
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

_models = {}


def model(req, logits_all):
    key = (req["gguf"], logits_all, req.get("n_threads", 2))
    if key not in _models:
        _models[key] = Llama(
            model_path=req["gguf"],
            n_ctx=req.get("n_ctx", 1024),
            n_batch=512,
            n_threads=req.get("n_threads", 2),
            n_threads_batch=req.get("n_threads", 2),
            logits_all=logits_all,
            seed=0,
            verbose=False,
        )
    return _models[key]


def op_version(req):
    return {"llama_cpp_python": llama_cpp.__version__}


def op_tokenize(req):
    llm = model(req, False)
    return [llm.tokenize(text.encode("utf-8"), add_bos=False, special=req.get("special", False)) for text in req["texts"]]


def op_detokenize(req):
    llm = model(req, False)
    return [llm.detokenize(ids).decode("utf-8", errors="replace") for ids in req["sequences"]]


def op_chat_template(req):
    llm = model(req, False)
    meta = llm.metadata
    template = meta["tokenizer.chat_template"]
    tokens = [llm.detokenize([i], special=True).decode("utf-8") for i in (llm.token_bos(), llm.token_eos())]
    formatter = Jinja2ChatFormatter(template=template, bos_token=tokens[0], eos_token=tokens[1])
    return [formatter(messages=messages).prompt for messages in req["conversations"]]


def evaluate(llm, ids, stepwise):
    """Evaluates ids after a reset: in one batch (as a prompt), or one token at a time (as decoding does)."""
    llm.reset()
    if stepwise:
        for token in ids:
            llm.eval([token])
    else:
        llm.eval(ids)


def op_teacher_forced(req):
    """Logits at every position of each sequence, written as float32 to req["out"] ([sequence][position][vocab]).
    With "stepwise", llama.cpp evaluates the sequence one token at a time instead of in one batch: the same
    model and weights, only the order of llama.cpp's float operations in attention differs."""
    llm = model(req, True)
    top1 = []
    margins = []
    with open(req["out"], "wb") as out:
        for ids in req["sequences"]:
            evaluate(llm, ids, req.get("stepwise", False))
            scores = np.asarray(llm.scores[: len(ids)], dtype=np.float32)
            out.write(scores.tobytes())
            top1.append([int(i) for i in scores.argmax(axis=1)])
            best = np.sort(scores, axis=1)[:, -2:]
            margins.append([float(m) for m in best[:, 1] - best[:, 0]])
    return {"top1": top1, "margins": margins, "vocab": int(llm.n_vocab())}


def last_logits(llm):
    """Logits of the last token evaluated (llama-cpp-python keeps scores only with logits_all)."""
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))


def op_greedy(req):
    """Greedy continuations (argmax of llama.cpp's logits, no penalties), a fresh cache per prompt,
    with the gap between llama.cpp's two best logits at each step. With "stepwise_prompt" the prompt is
    evaluated one token at a time instead of in one batch."""
    llm = model(req, False)
    results = []
    for ids in req["prompts"]:
        evaluate(llm, ids, req.get("stepwise_prompt", False))
        out = []
        margins = []
        for _ in range(req["n"]):
            logits = last_logits(llm)
            top2 = np.partition(logits, -2)[-2:]
            margins.append(float(top2[1] - top2[0]))
            token = int(np.argmax(logits))
            out.append(token)
            if token == llm.token_eos() and not req.get("ignore_eos", False):
                break
            llm.eval([token])
        results.append({"tokens": out, "margins": margins})
    return results


def op_generate(req):
    """Answers as an honest miner running llama.cpp on the GGUF gives them: llama-cpp-python's own
    sampler chain (top-k, top-p, min-p, then temperature; argmax at temperature 0), no repetition
    penalty, the job's seed and a fresh cache per prompt. Stops after the end-of-generation token
    or n tokens; stop strings are the serving layer's business and left to the caller."""
    llm = model(req, False)
    results = []
    for job in req["jobs"]:
        llm.reset()
        llm.set_seed(int(job.get("seed", 0)))
        tokens = []
        if job["n"] > 0:
            for token in llm.generate(
                job["prompt"],
                top_k=int(job.get("top_k", 0)),
                top_p=float(job.get("top_p", 1.0)),
                min_p=float(job.get("min_p", 0.0)),
                temp=float(job.get("temp", 0.0)),
                repeat_penalty=1.0,
                reset=True,
            ):
                tokens.append(int(token))
                if llama_cpp.llama_token_is_eog(llm._model.vocab, token) or len(tokens) >= job["n"]:
                    break
        results.append(tokens)
    return results


def op_quantize(req):
    """Writes req["out"]: the GGUF requantized by llama.cpp's own quantizer to req["ftype"] (a
    llama_ftype: 0 all float32, 2 Q4_0, 7 Q8_0, 15 Q4_K_M, ...), dequantising quantized tensors first."""
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(req.get("ftype", 0))
    params.allow_requantize = True
    params.nthread = req.get("n_threads", 2)
    code = llama_cpp.llama_model_quantize(req["gguf"].encode(), req["out"].encode(), ctypes.byref(params))
    if code != 0:
        raise RuntimeError(f"llama_model_quantize returned {code}")
    return req["out"]


def op_prefill_cpu(req):
    """Process CPU seconds (all threads) of llama.cpp's prefill of each sequence, a fresh cache each."""
    llm = model(req, False)
    seconds = []
    for ids in req["sequences"]:
        llm.reset()
        started = time.process_time()
        llm.eval(ids)
        seconds.append(time.process_time() - started)
    return seconds


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        try:
            result = globals()["op_" + req["op"]](req)
            answer = {"id": req["id"], "result": result}
        except Exception as error:  # noqa: BLE001 (reported to the test)
            answer = {"id": req["id"], "error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}
        _answers.write(json.dumps(answer) + "\n")
        _answers.flush()


if __name__ == "__main__":
    main()
