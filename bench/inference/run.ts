// `npm run bench:inference`: generates tiny, ~100M and ~400M Llama models
// into .cache/models/bench-*, then measures for each: batch-1 decode tok/s of
// the ChatTensor engine and of transformers.js generate() on the same folder,
// aggregate tok/s at 1/4/16 concurrent requests, time to first token for a
// 512-token prompt, decode rate against the memory-bandwidth limit measured in
// the same run, and peak RSS; for float32 models also the batch-1 decode rate
// with the engine's load-time int8 weights. Each measurement runs in its own
// process.
//
// Then the real model: SmolLM2-135M-Instruct (Q4_1 GGUF) in the engine
// against llama.cpp on the same file (real-model.ts).
//
// MINER_DEVICE=cuda measures on the GPU and, as the baseline, on the CPU of
// the same machine in the same run. BENCH_MODELS=tiny,100m,smollm2 picks models,
// BENCH_DTYPE=fp16 generates and measures float16 models instead of float32.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  generateModel,
  GENERATOR_REVISION,
  quantizeModelWeightsInt8,
  type ModelPreset,
} from '@chattensor/inference';
import { measureBandwidth, type BandwidthResult } from './bandwidth';
import { measureRealModel, REAL_MODEL_HEADER, type EngineResult } from './real-model';

type Device = 'cpu' | 'cuda';

const root = resolve(__dirname, '../../../');
// Both overridable so that a bundled copy of the benchmark can run on a machine without the repository.
const cacheDir = process.env.BENCH_CACHE_DIR ? resolve(process.env.BENCH_CACHE_DIR) : join(root, '.cache');
const peerScript = process.env.BENCH_PEER_SCRIPT
  ? resolve(process.env.BENCH_PEER_SCRIPT)
  : join(root, 'libs/inference/test/transformers-peer.mjs');

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

/** A GPU decodes far faster, so it gets longer runs for the same measuring precision. */
function planFor(plan: ModelPlan, device: Device): ModelPlan {
  return device === 'cuda'
    ? {
        ...plan,
        decodeTokens: Math.max(plan.decodeTokens, 128),
        tokensPerRequest: Math.max(plan.tokensPerRequest, 64),
        repeats: 3,
      }
    : plan;
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

function selectedDevice(): Device {
  const value = process.env.MINER_DEVICE ?? 'cpu';
  if (value !== 'cpu' && value !== 'cuda') fail(`MINER_DEVICE must be cpu or cuda (got "${value}")`);
  return value;
}

const REAL_MODEL = 'smollm2';

function wantedModels(): string[] | undefined {
  return process.env.BENCH_MODELS?.split(',')
    .map((name) => name.trim())
    .filter(Boolean);
}

function selectedPlans(): ModelPlan[] {
  const wanted = wantedModels();
  if (!wanted) return PLANS;
  const unknown = wanted.filter((name) => name !== REAL_MODEL && !PLANS.some((plan) => plan.preset === name));
  if (unknown.length > 0)
    fail(
      `BENCH_MODELS: unknown model ${unknown.join(', ')} (known: ${[...PLANS.map((plan) => plan.preset), REAL_MODEL].join(', ')})`,
    );
  return PLANS.filter((plan) => wanted.includes(plan.preset));
}

/** The GPU's name as the driver reports it, for the record. */
function gpuName(): string {
  try {
    return execFileSync(
      'nvidia-smi',
      ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'],
      { encoding: 'utf8' },
    ).trim();
  } catch {
    return 'unknown (nvidia-smi not available)';
  }
}

function runNode(args: string[], input?: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      process.execPath,
      args,
      { cwd: root, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${args[0]} failed: ${error.message}\n${stderr}`));
        else resolvePromise(stdout);
      },
    );
    child.stdin!.end(input ?? '');
  });
}

function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((total, name) => total + statSync(join(dir, name)).size, 0);
}

function selectedDtype(): 'fp32' | 'fp16' {
  const value = process.env.BENCH_DTYPE ?? 'fp32';
  if (value !== 'fp32' && value !== 'fp16') fail(`BENCH_DTYPE must be fp32 or fp16 (got "${value}")`);
  return value;
}

async function ensureModel(preset: ModelPreset, dtype: 'fp32' | 'fp16'): Promise<string> {
  const dir = join(cacheDir, 'models', `bench-${preset}${dtype === 'fp16' ? '-fp16' : ''}`);
  const stamp = join(dir, '.generator-options.json');
  const options = { preset, seed: 42, dtype };
  const stampText = JSON.stringify({ ...options, revision: GENERATOR_REVISION });
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== stampText) {
    const started = performance.now();
    await generateModel({ outDir: dir, ...options, name: `chattensor/bench-${preset}` });
    writeFileSync(stamp, stampText);
    console.error(`generated ${preset} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  return dir;
}


interface Int8Result {
  decodeTokensPerSecond: number;
  peakRssMiB: number;
  /** Bytes a decode step reads with int8 weights (int8 blocks, scales and the float tensors left). */
  weightBytes: number;
}

interface PeerResult {
  tokensPerSecond: number;
  peakRssMiB: number;
}

async function measureModel(
  dir: string,
  dtype: 'fp32' | 'fp16',
  plan: ModelPlan,
  device: Device,
): Promise<{ ours: EngineResult; int8?: Int8Result; peer: PeerResult }> {
  const job = {
    modelDir: dir,
    device,
    quantize: 'none',
    decodeOnly: false,
    decodeTokens: plan.decodeTokens,
    concurrency: plan.concurrency,
    tokensPerRequest: plan.tokensPerRequest,
    ttftPromptTokens: 512,
    repeats: plan.repeats,
  };
  const ours = JSON.parse(
    await runNode([join(__dirname, 'engine-worker.js'), JSON.stringify(job)]),
  ) as EngineResult;
  // The same folder with the engine's load-time int8 weights (MINER_QUANTIZE=int8): float32 models only.
  let int8: Int8Result | undefined;
  if (dtype === 'fp32') {
    const measured = JSON.parse(
      await runNode([
        join(__dirname, 'engine-worker.js'),
        JSON.stringify({ ...job, quantize: 'int8', decodeOnly: true }),
      ]),
    ) as Omit<Int8Result, 'weightBytes'>;
    int8 = {
      ...measured,
      weightBytes: quantizeModelWeightsInt8(join(dir, 'onnx', 'model.onnx')).weightBytes,
    };
  }
  const peer = JSON.parse(
    await runNode(
      [peerScript],
      JSON.stringify({
        mode: 'decode-speed',
        modelDir: dir,
        dtype,
        device,
        promptTokens: 32,
        newTokens: plan.decodeTokens,
        repeats: plan.repeats,
      }),
    ),
  ) as PeerResult;
  return { ours, int8, peer };
}

interface Measured {
  preset: string;
  device: Device;
  weightBytes: number;
  plan: ModelPlan;
  ours: EngineResult;
  int8?: Int8Result;
  peer: PeerResult;
  bytesPerSecond: number;
}

function row({ preset, device, weightBytes, plan, ours, int8, peer, bytesPerSecond }: Measured): string {
  const aggregate = ours.aggregateTokensPerSecond;
  const limit = bytesPerSecond / weightBytes;
  const int8Cells = int8
    ? `${int8.decodeTokensPerSecond.toFixed(1)} | ${(int8.decodeTokensPerSecond / peer.tokensPerSecond).toFixed(2)}x | ` +
      `${((100 * int8.decodeTokensPerSecond * int8.weightBytes) / bytesPerSecond).toFixed(0)}% of ${(bytesPerSecond / int8.weightBytes).toFixed(1)}`
    : '– | – | –';
  return (
    `| ${preset} | ${device} | ${(weightBytes / 1e6).toFixed(weightBytes < 1e7 ? 1 : 0)} MB | ${ours.decodeTokensPerSecond.toFixed(1)} | ${peer.tokensPerSecond.toFixed(1)} | ` +
    `${(ours.decodeTokensPerSecond / peer.tokensPerSecond).toFixed(2)}x | ` +
    `${plan.concurrency.map((c) => aggregate[String(c)].toFixed(1)).join(' / ')} | ${(aggregate['16'] / aggregate['1']).toFixed(2)}x | ` +
    `${(ours.ttftSeconds * 1000).toFixed(0)} ms | ${((100 * ours.decodeTokensPerSecond) / limit).toFixed(0)}% of ${limit.toFixed(1)} | ` +
    `${ours.peakRssMiB.toFixed(0)} / ${peer.peakRssMiB.toFixed(0)} MiB | ${int8Cells} |`
  );
}

async function main(): Promise<void> {
  const device = selectedDevice();
  const plans = selectedPlans();
  const dtype = selectedDtype();
  // With a GPU the CPU runs too, in the same process tree, as the baseline.
  const devices: Device[] = device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'];
  mkdirSync(cacheDir, { recursive: true });
  const started = performance.now();
  const bandwidth: Partial<Record<Device, BandwidthResult>> = {};
  for (const target of devices) {
    const result = await measureBandwidth(join(cacheDir, 'bandwidth'), target, target === 'cuda' ? 8 : 4);
    bandwidth[target] = result;
    console.error(
      `${target} read bandwidth: ${(result.bytesPerSecond / 1e9).toFixed(1)} GB/s ` +
        `(ReduceSum ${(result.reduceSumBytesPerSecond / 1e9).toFixed(1)}, vector x matrix ${(result.matVecBytesPerSecond / 1e9).toFixed(1)})`,
    );
  }
  const rows: string[] = [];
  const results: Record<string, unknown> = {};
  for (const basePlan of plans) {
    const dir = await ensureModel(basePlan.preset, dtype);
    const weightBytes = folderBytes(join(dir, 'onnx'));
    for (const target of devices) {
      const plan = planFor(basePlan, target);
      let measured: { ours: EngineResult; int8?: Int8Result; peer: PeerResult };
      try {
        measured = await measureModel(dir, dtype, plan, target);
      } catch (error) {
        // One failed measurement (a provider missing, out of memory) must not lose the others.
        console.error(`${basePlan.preset} on ${target} failed: ${(error as Error).message}`);
        rows.push(
          `| ${basePlan.preset} ${dtype} | ${target} | failed: ${(error as Error).message.split('\n')[0]} |`,
        );
        continue;
      }
      const bytesPerSecond = bandwidth[target]!.bytesPerSecond;
      results[`${basePlan.preset}/${target}`] = {
        weightBytes,
        ...measured,
        bandwidthLimitTokensPerSecond: bytesPerSecond / weightBytes,
      };
      rows.push(
        row({
          preset: `${basePlan.preset}${dtype === 'fp16' ? ' fp16' : ''}`,
          device: target,
          weightBytes,
          plan,
          ...measured,
          bytesPerSecond,
        }),
      );
      console.error(`${basePlan.preset} on ${target} done`);
    }
  }
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
  const bandwidthText = devices
    .map((target) => `${target} ${(bandwidth[target]!.bytesPerSecond / 1e9).toFixed(1)} GB/s`)
    .join(', ');
  const header =
    `Machine: ${machine}${device === 'cuda' ? `, GPU ${gpuName()}` : ''}; onnxruntime-node ${ort.env.versions.common}; ` +
    `measured read bandwidth ${bandwidthText}; run took ${((performance.now() - started) / 1000).toFixed(0)} s\n\n` +
    '| model | device | weights | decode tok/s (ours) | decode tok/s (transformers.js) | ratio | aggregate tok/s at 1 / 4 / 16 | 16 vs 1 | TTFT 512 tokens | decode vs bandwidth limit (tok/s) | peak RSS ours / transformers.js | int8 weights: decode tok/s | int8 vs transformers.js | int8 vs its bandwidth limit (tok/s) |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n';
  console.log(header + rows.join('\n'));
  if (device === 'cpu' && (wantedModels()?.includes(REAL_MODEL) ?? true)) {
    // Same thread count for both: every core of this machine.
    const threads = Number(process.env.BENCH_THREADS ?? cpus().length);
    try {
      const real = await measureRealModel(root, { threads, decodeTokens: 64, tokensPerRequest: 32, concurrency: [1, 4, 16], repeats: 2 });
      results.smollm2 = real.results;
      console.log(`\n${REAL_MODEL_HEADER}${real.row}`);
    } catch (error) {
      console.error(`the real-model row failed: ${(error as Error).message}`);
      console.log(`\n${REAL_MODEL_HEADER}| SmolLM2-135M-Instruct Q4_1 (GGUF) | failed: ${(error as Error).message.split('\n')[0]} |`);
    }
  }
  const outDir = join(cacheDir, 'bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    join(outDir, `inference-${device}-${dtype}.json`),
    JSON.stringify({ machine, bandwidth, results }, null, 2),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
