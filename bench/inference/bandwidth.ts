// Memory read bandwidth as onnxruntime sees it on one device, measured in the
// same run as the decode benchmark. Decoding at batch 1 reads every weight
// once per token, so bandwidth / weight bytes is the machine's token-rate
// limit. Two probes over weights that are constant initializers (like a
// model's, resident on the device and far larger than any cache):
//   - ReduceSum over each matrix: a plain streaming read;
//   - a vector times each matrix: what a decode step does.
// The faster of the two is taken as the limit, so the percentage reported
// against it is, if anything, too low.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxDataType, OnnxGraphBuilder, writeExternalData } from '@chattensor/inference';

export interface BandwidthResult {
  /** Bytes per second, the better of the two probes. */
  bytesPerSecond: number;
  reduceSumBytesPerSecond: number;
  matVecBytesPerSecond: number;
  probeBytes: number;
}

const ROWS = 4096;
const COLS = 16384; // 256 MiB of float32 per matrix

/**
 * Writes a graph over `matrices` 256 MiB float32 initializers, stored as
 * external data, and returns its path. The reduction axes are a graph input
 * so that onnxruntime cannot fold the sums into constants at load time.
 */
function probeModel(dir: string, kind: 'sum' | 'y', matrices: number): string {
  const name = `bandwidth-${kind}-${matrices}.onnx`;
  const g = new OnnxGraphBuilder('bandwidth');
  const x = g.input('x', OnnxDataType.FLOAT, [1, ROWS]);
  const axes = g.input('axes', OnnxDataType.INT64, [1]);
  const data = Buffer.from(new Float32Array(ROWS * COLS).fill(1 / 4096).buffer);
  for (let index = 0; index < matrices; index++) {
    const w = g.initializer({ name: `w${index}`, dataType: OnnxDataType.FLOAT, dims: [ROWS, COLS], data });
    if (kind === 'sum') {
      g.output(`sum${index}`, OnnxDataType.FLOAT, [COLS]);
      g.op('ReduceSum', [w, axes], { keepdims: 0 }, `sum${index}`);
    } else {
      g.output(`y${index}`, OnnxDataType.FLOAT, [1, COLS]);
      g.op('MatMul', [x, w], {}, `y${index}`);
    }
  }
  const { model, externalTensors } = g.build({
    opset: 17,
    producer: 'bench',
    external: { location: `${name}.data`, thresholdBytes: 1024 },
  });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), model.toBuffer());
  writeExternalData(
    join(dir, `${name}.data`),
    externalTensors.map((tensor) => tensor.data),
  );
  return join(dir, name);
}

/** Best of `repeats` runs of one probe graph, after a warm-up run; in seconds. */
async function timeProbe(
  dir: string,
  kind: 'sum' | 'y',
  matrices: number,
  device: 'cpu' | 'cuda',
  repeats: number,
): Promise<number> {
  const session = await ort.InferenceSession.create(probeModel(dir, kind, matrices), {
    executionProviders: device === 'cuda' ? ['cuda'] : ['cpu'],
    graphOptimizationLevel: 'all',
  });
  // Feed only what this graph declares.
  const all: Record<string, ort.Tensor> = {
    x: new ort.Tensor('float32', new Float32Array(ROWS).fill(1), [1, ROWS]),
    axes: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
  };
  const feeds = Object.fromEntries(session.inputNames.map((name) => [name, all[name]]));
  await session.run(feeds);
  let best = Infinity;
  for (let repeat = 0; repeat < repeats; repeat++) {
    const started = performance.now();
    await session.run(feeds);
    best = Math.min(best, (performance.now() - started) / 1000);
  }
  await session.release();
  return best;
}

/** Measures on `device` with `matrices` x 256 MiB of weights (4 for a CPU, 8 for a GPU). */
export async function measureBandwidth(
  dir: string,
  device: 'cpu' | 'cuda',
  matrices: number,
): Promise<BandwidthResult> {
  const probeBytes = matrices * ROWS * COLS * 4;
  const reduceSumBytesPerSecond = probeBytes / (await timeProbe(dir, 'sum', matrices, device, 8));
  const matVecBytesPerSecond = probeBytes / (await timeProbe(dir, 'y', matrices, device, 8));
  return {
    bytesPerSecond: Math.max(reduceSumBytesPerSecond, matVecBytesPerSecond),
    reduceSumBytesPerSecond,
    matVecBytesPerSecond,
    probeBytes,
  };
}
