import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Xoshiro128 } from '../generator/prng';
import { OnnxDataType, OnnxGraphBuilder, writeExternalData } from './onnx-builder';
import { parseProto, stringValue } from './protobuf-reader';
import {
  QUANT_BLOCK_SIZE,
  quantizeBlocks,
  quantizeModelWeightsInt8,
  WeightQuantizationError,
} from './weight-quantizer';

const K = 80; // not a whole number of blocks: the last one is padded
const N = 48;
const VOCAB = 24;

function randomWeights(count: number, seed: number): Float32Array {
  const values = new Float32Array(count);
  new Xoshiro128(seed).fillUniform(values, 0.5);
  return values;
}

function bytesOf(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/**
 * x [1, K] times a constant W [K, N], and the lm_head pattern of tied
 * embeddings: ids -> Gather(E) and h times Transpose(E), with E [VOCAB, K]
 * used by both (so E must stay while its transpose is quantized).
 */
function writeModel(dir: string, external: boolean): { path: string; w: Float32Array; e: Float32Array } {
  const g = new OnnxGraphBuilder('quantizer_test');
  const x = g.input('x', OnnxDataType.FLOAT, [1, K]);
  const ids = g.input('ids', OnnxDataType.INT64, [1]);
  g.output('y', OnnxDataType.FLOAT, [1, N]);
  g.output('logits', OnnxDataType.FLOAT, [1, VOCAB]);
  g.output('embedded', OnnxDataType.FLOAT, [1, K]);
  const w = randomWeights(K * N, 1);
  const e = randomWeights(VOCAB * K, 2);
  const wName = g.initializer({ name: 'w', dataType: OnnxDataType.FLOAT, dims: [K, N], data: bytesOf(w) });
  const eName = g.initializer({
    name: 'embed',
    dataType: OnnxDataType.FLOAT,
    dims: [VOCAB, K],
    data: bytesOf(e),
  });
  g.op('MatMul', [x, wName], {}, 'y');
  g.op('Gather', [eName, ids], { axis: 0 }, 'embedded');
  g.op('MatMul', [x, g.op('Transpose', [eName], { perm: [1, 0] })], {}, 'logits');
  const { model, externalTensors } = g.build({
    opset: 17,
    producer: 'test',
    external: external ? { location: 'model.onnx_data', thresholdBytes: 1024 } : undefined,
  });
  const path = join(dir, 'model.onnx');
  writeFileSync(path, model.toBuffer());
  if (external)
    writeExternalData(
      join(dir, 'model.onnx_data'),
      externalTensors.map((tensor) => tensor.data),
    );
  return { path, w, e };
}

async function run(source: string | Uint8Array, x: Float32Array): Promise<Record<string, Float32Array>> {
  const session =
    typeof source === 'string'
      ? await ort.InferenceSession.create(source)
      : await ort.InferenceSession.create(source);
  const outputs = await session.run({
    x: new ort.Tensor('float32', x, [1, K]),
    ids: new ort.Tensor('int64', BigInt64Array.of(3n), [1]),
  });
  await session.release();
  return Object.fromEntries(
    Object.entries(outputs).map(([name, tensor]) => [name, tensor.data as Float32Array]),
  );
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    error = Math.max(error, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return error / scale;
}

describe('int8 weight quantization of an ONNX model', () => {
  it.each([
    ['inline weights', false],
    ['weights in an external data file', true],
  ])(
    'replaces MatMuls on constant weights with MatMulNBits and keeps the outputs close (%s)',
    async (_, external) => {
      const dir = mkdtempSync(join(tmpdir(), 'quantizer-'));
      const { path } = writeModel(dir, external);
      const result = quantizeModelWeightsInt8(path);
      expect(result.quantizedMatMuls).toBe(2);

      const graph = parseProto(parseProto(result.model).find((f) => f.field === 7)!.payload!);
      const ops = graph.filter((f) => f.field === 1).map((f) => stringValue(parseProto(f.payload!), 4));
      expect(ops.sort()).toEqual(['Gather', 'MatMulNBits', 'MatMulNBits']);
      const initializers = graph
        .filter((f) => f.field === 5)
        .map((f) => stringValue(parseProto(f.payload!), 8));
      // W is gone (only the MatMul read it); the embedding stays for the Gather.
      expect(initializers).not.toContain('w');
      expect(initializers).toContain('embed');

      const x = randomWeights(K, 3);
      const reference = await run(path, x);
      const quantized = await run(result.model, x);
      expect(relativeError(quantized.y, reference.y)).toBeLessThan(0.02);
      expect(relativeError(quantized.logits, reference.logits)).toBeLessThan(0.02);
      expect(Array.from(quantized.embedded)).toEqual(Array.from(reference.embedded));
    },
  );

  it('stores each block as 128 + round(w / scale) with scale = max |w| / 127, zero-padded to whole blocks', () => {
    const values = Float32Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 1 : -1) * (i + 1) * 0.01);
    // As a K x N = 40 x 1 matrix: one column, two blocks, the second 8 values long.
    const { q, scales } = quantizeBlocks(values, 40, 1, false);
    expect(q.length).toBe(2 * QUANT_BLOCK_SIZE);
    expect(scales[0]).toBeCloseTo(0.32 / 127, 7);
    expect(scales[1]).toBeCloseTo(0.4 / 127, 7);
    expect(q[31]).toBe(128 - 127); // -0.32, the block's largest magnitude
    expect(q[QUANT_BLOCK_SIZE + 7]).toBe(128 - 127); // -0.40
    expect(q[QUANT_BLOCK_SIZE + 8]).toBe(128); // padding dequantizes to 0
    // The same matrix given transposed (N x K) quantizes identically.
    const transposed = quantizeBlocks(values, 40, 1, true);
    expect(Buffer.compare(transposed.q, q)).toBe(0);
    expect(Array.from(transposed.scales)).toEqual(Array.from(scales));
  });

  it('refuses a model with no float32 MatMul weights, naming why', () => {
    const dir = mkdtempSync(join(tmpdir(), 'quantizer-'));
    const g = new OnnxGraphBuilder('fp16');
    const x = g.input('x', OnnxDataType.FLOAT16, [1, 2]);
    g.output('y', OnnxDataType.FLOAT16, [1, 2]);
    const w = g.initializer({
      name: 'w',
      dataType: OnnxDataType.FLOAT16,
      dims: [2, 2],
      data: Buffer.alloc(8),
    });
    g.op('MatMul', [x, w], {}, 'y');
    writeFileSync(join(dir, 'model.onnx'), g.build({ opset: 17, producer: 'test' }).model.toBuffer());
    expect(() => quantizeModelWeightsInt8(join(dir, 'model.onnx'))).toThrow(WeightQuantizationError);
    expect(() => quantizeModelWeightsInt8(join(dir, 'model.onnx'))).toThrow(/float32 model/);
  });
});
