// Where a decode step's time goes: runs a prefill and N batch-1 decode steps
// of a model folder through onnxruntime with its profiler on, using the
// engine's own session options, and prints the time per operator type and
// execution provider, the copies between host and device, and the share of
// each step spent outside the graph's kernels (feeding, fetching, copies).
//
//   node dist/bench/inference/profile-steps.js <model dir> [cpu|cuda] [steps]
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decoderSessionOptions, ModelLoadError } from '@chattensor/inference';

interface TraceEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; provider?: string };
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

async function main(): Promise<void> {
  const [modelDir, deviceArg = 'cpu', stepsArg = '32'] = process.argv.slice(2);
  if (!modelDir) fail('usage: profile-steps <model dir> [cpu|cuda] [steps]');
  if (deviceArg !== 'cpu' && deviceArg !== 'cuda') fail(`device must be cpu or cuda (got "${deviceArg}")`);
  const steps = Number(stepsArg);
  if (!Number.isInteger(steps) || steps < 1) fail(`steps must be a positive integer (got "${stepsArg}")`);
  const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as Record<string, number>;
  const prefix = join(modelDir, `.profile-${process.pid}`);
  let session: ort.InferenceSession;
  try {
    const graph = ['model.onnx', 'model_fp16.onnx', 'decoder_model_merged.onnx']
      .map((name) => join(modelDir, 'onnx', name))
      .find((path) => existsSync(path));
    if (!graph) fail(`${modelDir}/onnx holds no model.onnx, model_fp16.onnx or decoder_model_merged.onnx`);
    session = await ort.InferenceSession.create(graph, {
      ...decoderSessionOptions({ device: deviceArg }),
      enableProfiling: true,
      profileFilePrefix: prefix,
    });
  } catch (error) {
    throw new ModelLoadError(`could not load ${modelDir}: ${(error as Error).message}`);
  }
  const layers = config.num_hidden_layers;
  const kvHeads = config.num_key_value_heads ?? config.num_attention_heads;
  const headDim = config.head_dim ?? config.hidden_size / config.num_attention_heads;
  const pastMeta = session.inputMetadata.find((meta) => meta.name === 'past_key_values.0.key');
  const kvType = pastMeta?.isTensor && pastMeta.type === 'float16' ? 'float16' : 'float32';
  const emptyKv = (): ort.Tensor =>
    new ort.Tensor(kvType, kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [
      1,
      kvHeads,
      0,
      headDim,
    ]);

  const promptLength = 32;
  let past: Record<string, ort.Tensor> = {};
  for (let layer = 0; layer < layers; layer++) {
    past[`past_key_values.${layer}.key`] = emptyKv();
    past[`past_key_values.${layer}.value`] = emptyKv();
  }
  const run = async (ids: number[], position: number): Promise<number> => {
    const total = position + ids.length;
    const feeds: Record<string, ort.Tensor> = {
      ...past,
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
    };
    if (session.inputNames.includes('position_ids')) {
      feeds.position_ids = new ort.Tensor(
        'int64',
        BigInt64Array.from(ids.map((_, i) => BigInt(position + i))),
        [1, ids.length],
      );
    }
    if (session.inputNames.includes('use_cache_branch'))
      feeds.use_cache_branch = new ort.Tensor('bool', Uint8Array.of(position > 0 ? 1 : 0), [1]);
    const started = performance.now();
    const outputs = await session.run(feeds);
    const elapsed = performance.now() - started;
    past = {};
    for (let layer = 0; layer < layers; layer++) {
      past[`past_key_values.${layer}.key`] = outputs[`present.${layer}.key`];
      past[`past_key_values.${layer}.value`] = outputs[`present.${layer}.value`];
    }
    return elapsed;
  };
  await run(
    Array.from({ length: promptLength }, (_, i) => 300 + i),
    0,
  );
  let wall = 0;
  for (let step = 0; step < steps; step++) wall += await run([400 + (step % 50)], promptLength + step);
  session.endProfiling();
  await session.release();
  // onnxruntime names the trace <prefix>_<timestamp>.json.
  const traceName = readdirSync(modelDir).find(
    (name) => name.startsWith(basename(prefix)) && name.endsWith('.json'),
  );
  if (!traceName) fail(`onnxruntime wrote no profile next to ${prefix}`);
  const file = join(modelDir, traceName);

  const events = JSON.parse(readFileSync(file, 'utf8')) as TraceEvent[];
  rmSync(file, { force: true });
  // Only the decode steps: drop the prefill run's events (the first model_run and everything before it ended).
  const runs = events.filter((event) => event.cat === 'Session' && event.name === 'model_run');
  const decodeRuns = runs.slice(1);
  const kernelTotals = new Map<string, { micros: number; count: number }>();
  let kernelMicros = 0;
  let seenRuns = 0;
  for (const event of events) {
    if (event.cat === 'Session' && event.name === 'model_run') seenRuns++;
    // Kernel events of a run are written before that run's model_run event.
    if (seenRuns < 1 || event.cat !== 'Node' || !event.name.endsWith('_kernel_time')) continue;
    const key = `${event.args?.op_name ?? '?'} [${event.args?.provider ?? '?'}]`;
    const entry = kernelTotals.get(key) ?? { micros: 0, count: 0 };
    entry.micros += event.dur;
    entry.count += 1;
    kernelTotals.set(key, entry);
    kernelMicros += event.dur;
  }
  const runMicros = decodeRuns.reduce((total, event) => total + event.dur, 0);
  console.log(`${modelDir} on ${deviceArg}: ${steps} decode steps after a ${promptLength}-token prefill`);
  console.log(
    `  per step: ${(wall / steps).toFixed(2)} ms wall in session.run, ${(runMicros / steps / 1000).toFixed(2)} ms model_run, ${(kernelMicros / steps / 1000).toFixed(2)} ms in kernels`,
  );
  console.log('  op [provider]: ms per step (calls per step)');
  for (const [key, entry] of [...kernelTotals.entries()]
    .sort((a, b) => b[1].micros - a[1].micros)
    .slice(0, 25)) {
    console.log(
      `    ${key}: ${(entry.micros / steps / 1000).toFixed(3)} (${(entry.count / steps).toFixed(1)})`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
