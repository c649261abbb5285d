// The compute limit for the real model's aggregate throughput, measured in
// the same run: one forward pass of nothing but the model's quantized weight
// products, on the same kernels and precision (MatMulNBits, 4-bit blocks of
// 32 with int8 activations for the layers, 8-bit blocks for the output head),
// with `rows` token rows at once. Per layer the products are chained the way
// the model's are (q/k/v, output, gate/up, down; a Slice where the model
// splits), with an RMSNorm after the down projection to keep the values in
// range; no attention, no block offsets, no cache. rows / its time is the
// rate a decode step of that batch could reach if everything but the weight
// products were free.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxDataType, OnnxGraphBuilder } from '@chattensor/inference';

export interface ProbeArchitecture {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  vocabSize: number;
}

export interface ComputeLimit {
  rows: number;
  /** Best time of one pass, seconds. */
  stepSeconds: number;
  tokensPerSecond: number;
}

/** Deterministic filler bytes (xorshift32), so every matrix holds different data. */
function fillBytes(length: number, seed: number): Buffer {
  const data = Buffer.alloc(length);
  let state = seed | 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data[i] = state & 0xff;
  }
  return data;
}

function probeModel(dir: string, arch: ProbeArchitecture, accuracyLevel: number): string {
  const g = new OnnxGraphBuilder('compute_probe');
  const hidden = arch.hiddenSize;
  const headDim = hidden / arch.numHeads;
  const qkvN = hidden + 2 * arch.numKvHeads * headDim;
  const x = g.input('x', OnnxDataType.FLOAT, ['rows', hidden]);
  g.output('logits', OnnxDataType.FLOAT, ['rows', arch.vocabSize]);
  let seed = 1;
  const nbits = (input: string, K: number, N: number, bits: number): string => {
    const blockSize = 32;
    const blocks = K / blockSize;
    const q = g.initializer({
      name: `w${seed}`,
      dataType: OnnxDataType.UINT8,
      dims: [N, blocks, (blockSize * bits) / 8],
      data: fillBytes((N * blocks * blockSize * bits) / 8, seed++),
    });
    const scales = g.initializer({
      name: `s${seed}`,
      dataType: OnnxDataType.FLOAT,
      dims: [N * blocks],
      data: Buffer.from(new Float32Array(N * blocks).fill(bits === 4 ? 0.01 : 0.001).buffer),
    });
    return g.msOp('MatMulNBits', [input, q, scales], {
      K,
      N,
      bits,
      block_size: blockSize,
      accuracy_level: accuracyLevel,
    });
  };
  const starts = g.int64s('/const/zero', [0]);
  const axes = g.int64s('/const/axis', [1]);
  const first = (input: string, width: number): string =>
    g.op('Slice', [input, starts, g.int64s(`/const/end_${width}`, [width]), axes]);
  const gamma = g.initializer({
    name: 'gamma',
    dataType: OnnxDataType.FLOAT,
    dims: [hidden],
    data: Buffer.from(new Float32Array(hidden).fill(1).buffer),
  });
  let h = x;
  for (let layer = 0; layer < arch.numLayers; layer++) {
    const qkv = nbits(h, hidden, qkvN, 4);
    const o = nbits(first(qkv, hidden), hidden, hidden, 4);
    const gateUp = nbits(o, hidden, 2 * arch.intermediateSize, 4);
    const down = nbits(first(gateUp, arch.intermediateSize), arch.intermediateSize, hidden, 4);
    h = g.op('SimplifiedLayerNormalization', [down, gamma], { axis: -1, epsilon: 1e-5, stash_type: 1 });
  }
  g.op('Identity', [nbits(h, hidden, arch.vocabSize, 8)], {}, 'logits');
  const { model } = g.build({ opset: 17, producer: 'bench' });
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `compute-probe-${arch.numLayers}x${hidden}.onnx`);
  writeFileSync(path, model.toBuffer());
  return path;
}

/** Best of `repeats` passes of `rows` rows, after a warm-up pass. */
export async function measureComputeLimit(
  dir: string,
  arch: ProbeArchitecture,
  options: { rows: number; threads: number; repeats: number; accuracyLevel?: number },
): Promise<ComputeLimit> {
  const session = await ort.InferenceSession.create(probeModel(dir, arch, options.accuracyLevel ?? 4), {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  });
  const input = new Float32Array(options.rows * arch.hiddenSize);
  for (let i = 0; i < input.length; i++) input[i] = Math.sin(i);
  const feeds = { x: new ort.Tensor('float32', input, [options.rows, arch.hiddenSize]) };
  await session.run(feeds);
  let best = Infinity;
  for (let repeat = 0; repeat < options.repeats; repeat++) {
    const started = performance.now();
    await session.run(feeds);
    best = Math.min(best, (performance.now() - started) / 1000);
  }
  await session.release();
  return { rows: options.rows, stepSeconds: best, tokensPerSecond: options.rows / best };
}
