/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as OrtModule from 'onnxruntime-node';
import { float16BitsToFloat32, float32ToFloat16Bits, OnnxDataType, OnnxGraphBuilder } from '../onnx/onnx-builder';
import { blockIndicator, exactRotaryAngles, ggmlRotaryAngles, roundToHalf } from './ggml-numerics';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort = require('onnxruntime-node') as typeof OrtModule;

/** Runs a one-input, one-output graph on x [1, 1, K]. */
async function runGraph(build: (g: OnnxGraphBuilder, x: string) => string, x: Float32Array, outDims: number[]): Promise<Float32Array> {
  const g = new OnnxGraphBuilder('test');
  const input = g.input('x', OnnxDataType.FLOAT, [1, 1, x.length]);
  g.output('y', OnnxDataType.FLOAT, outDims);
  g.op('Identity', [build(g, input)], {}, 'y');
  const dir = mkdtempSync(join(tmpdir(), 'ggml-numerics-'));
  try {
    const path = join(dir, 'model.onnx');
    g.build({ opset: 17, producer: 'test' }).model.writeToFile(path);
    const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
    try {
      const { y } = await session.run({ x: new ort.Tensor('float32', x, [1, 1, x.length]) });
      return y.data as Float32Array;
    } finally {
      await session.release();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('ggml numerics', () => {
  it('computes rotary angles with float32 steps theta *= powf(base, -2/dims), not position / base^(2i/dims)', () => {
    const angles = ggmlRotaryAngles(128, 64, 100000);
    const exact = exactRotaryAngles(128, 64, 100000);
    const step = Math.fround(Math.pow(100000, -2 / 64));
    let differ = 0;
    for (let position = 0; position < 128; position++) {
      expect(angles[position * 32]).toBe(position);
      for (let i = 1; i < 32; i++) {
        const at = position * 32 + i;
        expect(angles[at]).toBe(Math.fround(angles[at - 1] * step));
        // The same angle up to float32 rounding, but not the same float32.
        expect(Math.abs(angles[at] - exact[at])).toBeLessThanOrEqual(1e-5 * exact[at]);
        if (angles[at] !== Math.fround(exact[at])) differ++;
      }
    }
    expect(differ).toBeGreaterThan(100);
  });

  it('rounds to the float16 grid and back', async () => {
    const x = Float32Array.from([0.1, -3.14159, 65504, 1e-6, 0, 1 / 3]);
    const y = await runGraph((g, input) => roundToHalf(g, input), x, [1, 1, x.length]);
    expect(Array.from(y)).toEqual(Array.from(x, (v) => float16BitsToFloat32(float32ToFloat16Bits(v))));
    expect(y[0]).not.toBe(x[0]);
  });

  it('sums each block of int8-quantized activations through MatMulNBits with a block-indicator matrix', async () => {
    const K = 128;
    const blockSize = 32;
    const x = Float32Array.from({ length: K }, (_, i) => Math.sin(i * 1.7) * (i % 9 === 0 ? 6 : 1) + 0.01 * i);
    const w = blockIndicator(K, blockSize);
    const blocks = K / blockSize;
    const sums = await runGraph(
      (g, input) => {
        const q = g.initializer({ name: 'q', dataType: OnnxDataType.UINT8, dims: [blocks, blocks, blockSize / 2], data: w.data });
        const scales = g.initializer({ name: 's', dataType: OnnxDataType.FLOAT, dims: [blocks * blocks], data: Buffer.from(w.scales.buffer) });
        const zeroPoints = g.initializer({ name: 'z', dataType: OnnxDataType.UINT8, dims: [w.zeroPoints.length], data: w.zeroPoints });
        return g.msOp('MatMulNBits', [input, q, scales, zeroPoints], { K, N: blocks, bits: 4, block_size: blockSize, accuracy_level: 4 });
      },
      x,
      [1, 1, blocks],
    );
    for (let b = 0; b < blocks; b++) {
      // ggml's Q8 blocks: d = max|x| / 127, q = round-to-nearest-even(x * 127 / max|x|).
      const block = x.subarray(b * blockSize, (b + 1) * blockSize);
      const amax = Math.max(...Array.from(block, Math.abs));
      const inverse = Math.fround(127 / amax);
      let quantized = 0;
      let float = 0;
      for (const v of block) {
        const scaled = Math.fround(v * inverse);
        const rounded = Math.round(scaled);
        quantized += rounded - scaled === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
        float += v;
      }
      const expected = Math.fround(Math.fround(amax / 127) * quantized);
      // Exact up to float32 accumulation order (a few units in the last place).
      expect(Math.abs(sums[b] - expected)).toBeLessThanOrEqual(5e-7 * Math.abs(expected));
      // ... which is not the float sum: the quantization error is visible.
      expect(Math.abs(sums[b] - float)).toBeGreaterThan(1e-4);
    }
  });
});
