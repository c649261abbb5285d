// Where a decode step's time goes: runs a prefill and N batch-1 decode steps
// of a model folder through the engine's own decoder session with
// onnxruntime's profiler on, and prints the time per operator type and
// execution provider, the copies between host and device, and the share of
// each step spent outside the graph's kernels (feeding, fetching, copies).
//
//   node dist/bench/inference/profile-steps.js <model dir> [cpu|cuda] [steps] [batch]
//
// With a batch above 1, that many rows decode together (the engine's
// continuous batching at that concurrency).
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DecoderSession, emptyKvCache, readModelFolder } from '@chattensor/inference';

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
  const [modelDir, deviceArg = 'cpu', stepsArg = '32', batchArg = '1'] = process.argv.slice(2);
  if (!modelDir) fail('usage: profile-steps <model dir> [cpu|cuda] [steps] [batch]');
  if (deviceArg !== 'cpu' && deviceArg !== 'cuda') fail(`device must be cpu or cuda (got "${deviceArg}")`);
  const steps = Number(stepsArg);
  if (!Number.isInteger(steps) || steps < 1) fail(`steps must be a positive integer (got "${stepsArg}")`);
  const batch = Number(batchArg);
  if (!Number.isInteger(batch) || batch < 1) fail(`batch must be a positive integer (got "${batchArg}")`);
  const folder = readModelFolder(modelDir);
  const prefix = join(modelDir, `.profile-${process.pid}`);
  const session = await DecoderSession.create(folder.onnxPath, folder.config, {
    device: deviceArg,
    profileFilePrefix: prefix,
  });

  // The engine's own forward pass: the same feeds, cache handling and logits read-back.
  const promptLength = 32;
  let past = emptyKvCache(session.layout, batch);
  const run = async (ids: number[]): Promise<number> => {
    const position = past.length;
    const started = performance.now();
    const rows = <T>(values: T[]): T[] => Array.from({ length: batch }, () => values).flat();
    const { present } = await session.forward({
      batch,
      seqLength: ids.length,
      inputIds: BigInt64Array.from(rows(ids.map(BigInt))),
      positionIds: BigInt64Array.from(rows(ids.map((_, i) => BigInt(position + i)))),
      attentionMask: new BigInt64Array(batch * (position + ids.length)).fill(1n),
      past,
    });
    past = present;
    return performance.now() - started;
  };
  await run(Array.from({ length: promptLength }, (_, i) => 300 + i));
  let wall = 0;
  for (let step = 0; step < steps; step++) wall += await run([400 + (step % 50)]);
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
  console.log(
    `${modelDir} on ${deviceArg}: ${steps} decode steps of batch ${batch} after a ${promptLength}-token prefill`,
  );
  console.log(
    `  per step: ${(wall / steps).toFixed(2)} ms wall in the forward pass, ${(runMicros / steps / 1000).toFixed(2)} ms model_run, ${(kernelMicros / steps / 1000).toFixed(2)} ms in kernels`,
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
