// The real-model row of `npm run bench:inference`: SmolLM2-135M-Instruct
// (Q4_1 GGUF, fetched like `npm run model:fetch`) in the ChatTensor engine
// against llama.cpp (llama-cpp-python from .venv-llama) on the same GGUF file,
// same thread count, each in its own process, in the same run.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChatTemplate } from '../../libs/inference/src/tokenizer/chat-template';
import { measureComputeLimit } from './compute-probe';
import { ensureDefaultModel, readModelFolder, Tokenizer } from '@chattensor/inference';

export interface RealModelPlan {
  threads: number;
  decodeTokens: number;
  tokensPerRequest: number;
  concurrency: number[];
  repeats: number;
}

/** What bench/inference/engine-worker.ts prints for one model and device. */
export interface EngineResult {
  loadSeconds: number;
  decodeTokensPerSecond: number;
  ttftSeconds: number;
  ttftPromptTokens: number;
  aggregateTokensPerSecond: Record<string, number>;
  /** Peak RSS after the batch-1 decode and the long prompt, before any concurrent run: llama.cpp's workload. */
  batch1PeakRssMiB?: number;
  /** Peak RSS over the whole run, concurrent requests included. */
  peakRssMiB: number;
}

interface LlamaResult {
  loadSeconds: number;
  decodeTokensPerSecond: number;
  ttftSeconds: number;
  ttftPromptTokens: number;
  peakRssMiB: number;
}

function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${args[0]} failed: ${error.message}\n${stderr}`));
      else resolvePromise(stdout);
    });
  });
}

export const REAL_MODEL_HEADER =
  '| model | threads | decode tok/s ours / llama.cpp | ratio | TTFT 512 tokens ours / llama.cpp | ratio | aggregate tok/s ours at 1 / 4 / 16 | 16 concurrent vs llama.cpp batch 1 | compute limit at 16 rows (tok/s) | 16 concurrent vs compute limit | peak RSS, batch-1 decode and the 512-token prompt, ours / llama.cpp | ratio | peak RSS ours with 16 concurrent |\n' +
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n';

export async function measureRealModel(root: string, plan: RealModelPlan): Promise<{ row: string; results: unknown }> {
  const { dir, gguf } = await ensureDefaultModel(join(root, 'models'), (line) => console.error(`model: ${line}`));
  const ours = JSON.parse(
    await run(
      process.execPath,
      [
        join(__dirname, 'engine-worker.js'),
        JSON.stringify({
          modelDir: dir,
          device: 'cpu',
          quantize: 'none',
          decodeOnly: false,
          decodeTokens: plan.decodeTokens,
          concurrency: plan.concurrency,
          tokensPerRequest: plan.tokensPerRequest,
          ttftPromptTokens: 512,
          repeats: plan.repeats,
          intraOpThreads: plan.threads,
        }),
      ],
      root,
    ),
  ) as EngineResult;

  const python = join(root, '.venv-llama', 'bin', 'python');
  let llama: LlamaResult | undefined;
  let missing = '';
  if (!existsSync(python)) missing = 'llama-cpp-python is not installed (node test/interop/setup-venv.mjs .venv-llama)';
  else {
    // The same kind of prompts as the engine's: a short chat prompt to decode after, and 512 tokens of prompt for TTFT.
    const folder = readModelFolder(dir);
    const tokenizer = Tokenizer.fromJson(folder.tokenizerJson);
    const template = ChatTemplate.fromConfig(folder.tokenizerConfig);
    const words = 'the river rises in the hills to the north and runs through three small towns and a wide valley of farms before it reaches the sea';
    const decodePrompt = tokenizer.encode(template.render([{ role: 'user', content: `Request 0: ${words}` }]));
    const long = tokenizer.encode(template.render([{ role: 'user', content: `Request 0: ${`${words} `.repeat(30)}` }])).slice(0, ours.ttftPromptTokens);
    llama = JSON.parse(
      await run(
        python,
        [
          join(root, 'bench', 'inference', 'llama_bench.py'),
          JSON.stringify({ gguf, threads: plan.threads, decode_prompt: decodePrompt, decode_tokens: plan.decodeTokens, ttft_prompt: long, repeats: plan.repeats }),
        ],
        root,
      ),
    ) as LlamaResult;
  }
  const aggregate = ours.aggregateTokensPerSecond;
  // The weight products alone at the largest concurrency, same kernels, precision and threads (compute-probe.ts).
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number>;
  const rows = Math.max(...plan.concurrency);
  const limit = await measureComputeLimit(join(root, '.cache', 'compute-probe'), {
    hiddenSize: config.hidden_size,
    intermediateSize: config.intermediate_size,
    numLayers: config.num_hidden_layers,
    numHeads: config.num_attention_heads,
    numKvHeads: config.num_key_value_heads ?? config.num_attention_heads,
    vocabSize: config.vocab_size,
  }, { rows, threads: plan.threads, repeats: 5 });
  const limitCells = [limit.tokensPerSecond.toFixed(0), `${(aggregate[String(rows)] / limit.tokensPerSecond).toFixed(2)}x`];
  const batch1Rss = ours.batch1PeakRssMiB ?? ours.peakRssMiB;
  const cells = llama
    ? [
        `${ours.decodeTokensPerSecond.toFixed(1)} / ${llama.decodeTokensPerSecond.toFixed(1)}`,
        `${(ours.decodeTokensPerSecond / llama.decodeTokensPerSecond).toFixed(2)}x`,
        `${(ours.ttftSeconds * 1000).toFixed(0)} / ${(llama.ttftSeconds * 1000).toFixed(0)} ms`,
        `${(ours.ttftSeconds / llama.ttftSeconds).toFixed(2)}x`,
        plan.concurrency.map((c) => aggregate[String(c)].toFixed(1)).join(' / '),
        `${(aggregate['16'] / llama.decodeTokensPerSecond).toFixed(2)}x`,
        ...limitCells,
        `${batch1Rss.toFixed(0)} / ${llama.peakRssMiB.toFixed(0)} MiB`,
        `${(batch1Rss / llama.peakRssMiB).toFixed(2)}x`,
        `${ours.peakRssMiB.toFixed(0)} MiB`,
      ]
    : [
        `${ours.decodeTokensPerSecond.toFixed(1)} / –`,
        '–',
        `${(ours.ttftSeconds * 1000).toFixed(0)} ms / –`,
        '–',
        plan.concurrency.map((c) => aggregate[String(c)].toFixed(1)).join(' / '),
        '–',
        ...limitCells,
        `${batch1Rss.toFixed(0)} MiB / –`,
        missing,
        `${ours.peakRssMiB.toFixed(0)} MiB`,
      ];
  return { row: `| SmolLM2-135M-Instruct Q4_1 (GGUF) | ${plan.threads} | ${cells.join(' | ')} |`, results: { ours, llama, computeLimit: limit } };
}
