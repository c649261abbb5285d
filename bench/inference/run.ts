// `npm run bench:inference`: generates tiny, ~100M and ~400M Llama models
// into .cache/models/bench-*, then measures for each: batch-1 decode tok/s of
// the ChatTensor engine and of transformers.js generate() on the same folder,
// aggregate tok/s at 1/4/16 concurrent requests, time to first token for a
// 512-token prompt, decode rate against the memory-bandwidth limit measured in
// the same run, and peak RSS. Each measurement runs in its own process.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { generateModel, GENERATOR_REVISION, OnnxDataType, OnnxGraphBuilder, type ModelPreset } from '@chattensor/inference';

const root = resolve(__dirname, '../../../');
const cacheDir = join(root, '.cache', 'models');

interface ModelPlan {
  preset: ModelPreset;
  decodeTokens: number;
  tokensPerRequest: number;
  concurrency: number[];
  repeats: number;
}

// Sized so that the whole run stays within about ten minutes on a 2-core machine.
const PLANS: ModelPlan[] = [
  { preset: 'tiny', decodeTokens: 128, tokensPerRequest: 64, concurrency: [1, 4, 16], repeats: 2 },
  { preset: '100m', decodeTokens: 48, tokensPerRequest: 24, concurrency: [1, 4, 16], repeats: 2 },
  { preset: '400m', decodeTokens: 16, tokensPerRequest: 8, concurrency: [1, 4, 16], repeats: 1 },
];

function runNode(args: string[], input?: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(process.execPath, args, { cwd: root, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${args[0]} failed: ${error.message}\n${stderr}`));
      else resolvePromise(stdout);
    });
    child.stdin!.end(input ?? '');
  });
}

function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((total, name) => total + statSync(join(dir, name)).size, 0);
}

/**
 * Streaming read bandwidth as decoding sees it: onnxruntime multiplies a
 * vector by a 1 GiB matrix that is a graph input (so it cannot be prepacked
 * or cached), which reads every byte once per run, on all intra-op threads.
 */
async function measureBandwidth(): Promise<number> {
  const rows = 4096;
  const cols = 65536;
  const g = new OnnxGraphBuilder('bandwidth');
  const x = g.input('x', OnnxDataType.FLOAT, [1, rows]);
  const w = g.input('w', OnnxDataType.FLOAT, [rows, cols]);
  g.output('y', OnnxDataType.FLOAT, [1, cols]);
  g.op('MatMul', [x, w], {}, 'y');
  const { model } = g.build({ opset: 17, producer: 'bench' });
  const session = await ort.InferenceSession.create(model.toBuffer(), { graphOptimizationLevel: 'all' });
  const weights = new Float32Array(rows * cols).fill(0.5);
  const feeds = { x: new ort.Tensor('float32', new Float32Array(rows).fill(1), [1, rows]), w: new ort.Tensor('float32', weights, [rows, cols]) };
  let best = Infinity;
  for (let repeat = 0; repeat < 6; repeat++) {
    const started = performance.now();
    await session.run(feeds);
    best = Math.min(best, (performance.now() - started) / 1000);
  }
  await session.release();
  return weights.byteLength / best;
}

async function ensureModel(preset: ModelPreset): Promise<string> {
  const dir = join(cacheDir, `bench-${preset}`);
  const stamp = join(dir, '.generator-options.json');
  const options = { preset, seed: 42, dtype: 'fp32' as const };
  const stampText = JSON.stringify({ ...options, revision: GENERATOR_REVISION });
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== stampText) {
    const started = performance.now();
    await generateModel({ outDir: dir, ...options, name: `chattensor/bench-${preset}` });
    writeFileSync(stamp, stampText);
    console.error(`generated ${preset} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  return dir;
}

interface EngineResult {
  loadSeconds: number;
  decodeTokensPerSecond: number;
  ttftSeconds: number;
  ttftPromptTokens: number;
  aggregateTokensPerSecond: Record<string, number>;
  peakRssMiB: number;
}

async function main(): Promise<void> {
  mkdirSync(cacheDir, { recursive: true });
  const started = performance.now();
  const bandwidth = await measureBandwidth();
  console.error(`memory read bandwidth: ${(bandwidth / 1e9).toFixed(1)} GB/s`);
  const rows: string[] = [];
  const results: Record<string, unknown> = {};
  for (const plan of PLANS) {
    const dir = await ensureModel(plan.preset);
    const weightBytes = folderBytes(join(dir, 'onnx'));
    const ours = JSON.parse(
      await runNode([
        join(__dirname, 'engine-worker.js'),
        JSON.stringify({ modelDir: dir, decodeTokens: plan.decodeTokens, concurrency: plan.concurrency, tokensPerRequest: plan.tokensPerRequest, ttftPromptTokens: 512, repeats: plan.repeats }),
      ]),
    ) as EngineResult;
    const peer = JSON.parse(
      await runNode(
        [join(root, 'libs/inference/test/transformers-peer.mjs')],
        JSON.stringify({ mode: 'decode-speed', modelDir: dir, dtype: 'fp32', promptTokens: 32, newTokens: plan.decodeTokens, repeats: plan.repeats }),
      ),
    ) as { tokensPerSecond: number; peakRssMiB: number };
    const limit = bandwidth / weightBytes;
    const aggregate = ours.aggregateTokensPerSecond;
    results[plan.preset] = { weightBytes, ours, transformersJs: peer, bandwidthLimitTokensPerSecond: limit };
    rows.push(
      `| ${plan.preset} | ${(weightBytes / 1e6).toFixed(0)} MB | ${ours.decodeTokensPerSecond.toFixed(1)} | ${peer.tokensPerSecond.toFixed(1)} | ` +
        `${(ours.decodeTokensPerSecond / peer.tokensPerSecond).toFixed(2)}x | ` +
        `${plan.concurrency.map((c) => aggregate[String(c)].toFixed(1)).join(' / ')} | ${(aggregate['16'] / aggregate['1']).toFixed(2)}x | ` +
        `${(ours.ttftSeconds * 1000).toFixed(0)} ms | ${((100 * ours.decodeTokensPerSecond) / limit).toFixed(0)}% of ${limit.toFixed(1)} | ` +
        `${ours.peakRssMiB.toFixed(0)} / ${peer.peakRssMiB.toFixed(0)} MiB |`,
    );
    console.error(`${plan.preset} done`);
  }
  const header =
    `Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; onnxruntime-node ${ort.env.versions.common}; ` +
    `measured read bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s; run took ${((performance.now() - started) / 1000).toFixed(0)} s\n\n` +
    '| model | weights | decode tok/s (ours) | decode tok/s (transformers.js) | ratio | aggregate tok/s at 1 / 4 / 16 | 16 vs 1 | TTFT 512 tokens | decode vs bandwidth limit (tok/s) | peak RSS ours / transformers.js |\n' +
    '|---|---|---|---|---|---|---|---|---|---|\n';
  console.log(header + rows.join('\n'));
  const outDir = join(root, '.cache', 'bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'inference.json'), JSON.stringify({ bandwidth, results }, null, 2));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
