// Runs @huggingface/transformers (transformers.js) on a local model folder in
// its own process: it brings its own onnxruntime-node, which cannot share a
// process with ours. Reads a JSON job on stdin, writes a JSON result on stdout.
//
// Jobs:
//   { "mode": "greedy", "modelDir", "dtype": "fp32"|"fp16", "conversations": [[{role, content}]], "maxNewTokens" }
//     -> { "results": [{ "promptIds": number[], "generatedIds": number[] }] }
//   { "mode": "decode-speed", "modelDir", "dtype", "device"?: "cpu"|"cuda", "promptTokens", "newTokens", "repeats" }
//     -> { "tokensPerSecond": number, "seconds": number[], "peakRssMiB": number }
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, Tensor, env } from '@huggingface/transformers';

const job = JSON.parse(
  await new Promise((done) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => (text += chunk));
    process.stdin.on('end', () => done(text));
  }),
);

// Local files only: tests and benchmarks run without network access.
env.allowRemoteModels = false;
env.allowLocalModels = true;
const modelDir = resolve(job.modelDir);
env.localModelPath = `${dirname(modelDir)}/`;
const modelId = basename(modelDir);
const tokenizer = await AutoTokenizer.from_pretrained(modelId);
const model = await AutoModelForCausalLM.from_pretrained(modelId, {
  dtype: job.dtype ?? 'fp32',
  device: job.device ?? 'cpu',
});

// VmHWM, not getrusage: Linux carries the parent's maxrss across exec.
const peakRssMiB = () => {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
};
const toNumbers = (tensor) => tensor.tolist()[0].map(Number);

if (job.mode === 'greedy') {
  const results = [];
  for (const conversation of job.conversations) {
    const text = tokenizer.apply_chat_template(conversation, {
      tokenize: false,
      add_generation_prompt: true,
    });
    const inputs = tokenizer(text, { add_special_tokens: false });
    const output = await model.generate({ ...inputs, max_new_tokens: job.maxNewTokens, do_sample: false });
    const promptIds = toNumbers(inputs.input_ids);
    results.push({ promptIds, generatedIds: toNumbers(output).slice(promptIds.length) });
  }
  process.stdout.write(JSON.stringify({ results }));
} else if (job.mode === 'decode-speed') {
  // A fixed prompt of ordinary tokens; EOS is disabled so every run decodes exactly newTokens.
  const ids = Array.from({ length: job.promptTokens }, (_, index) => BigInt(300 + (index % 100)));
  const input_ids = new Tensor('int64', BigInt64Array.from(ids), [1, ids.length]);
  const attention_mask = new Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
  const run = async (newTokens) => {
    const started = performance.now();
    await model.generate({
      input_ids,
      attention_mask,
      max_new_tokens: newTokens,
      min_new_tokens: newTokens,
      do_sample: false,
    });
    return (performance.now() - started) / 1000;
  };
  await run(4);
  const seconds = [];
  for (let repeat = 0; repeat < (job.repeats ?? 1); repeat++) {
    // Decode rate excludes prefill: time N+1 tokens minus time for 1 token.
    const full = await run(job.newTokens + 1);
    const first = await run(1);
    seconds.push(full - first);
  }
  const best = Math.min(...seconds);
  process.stdout.write(
    JSON.stringify({ tokensPerSecond: job.newTokens / best, seconds, peakRssMiB: peakRssMiB() }),
  );
} else {
  throw new Error(`unknown mode ${job.mode}`);
}
await model.dispose();
