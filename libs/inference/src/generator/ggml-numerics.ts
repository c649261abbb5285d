import { OnnxDataType, type OnnxGraphBuilder } from '../onnx/onnx-builder';
import type { NBitsLinear } from '../gguf/gguf-quant';

/*
 * Places where llama.cpp's CPU backend (ggml) rounds differently from a plain
 * float32 graph, reproduced for imported GGUF models (docs/architecture.md,
 * "Agreement with llama.cpp"). Each was checked against tensors dumped from
 * llama.cpp itself:
 *
 *  - Rotary angles: ggml starts from theta = position and multiplies it by
 *    powf(base, -2/dims) once per pair of dimensions, in float32, then takes
 *    cosf/sinf of that angle (not position / base^(2i/dims) in double).
 *  - Attention: the default KV cache holds K and V as float16; the query is
 *    converted to float16 for its product with K, and the softmax weights for
 *    their product with V (both products accumulate in float32).
 *  - Q4_1 weights (w = d*q + m) meet activations quantized to int8 blocks
 *    (Q8_1), and the minimum's share m * sum(x) uses the block sum of those
 *    int8 values, not of the float activations. MatMulNBits with
 *    accuracy_level 4 quantizes its input the same way (scale max|x| / 127,
 *    round to nearest even), so a block-indicator MatMulNBits yields exactly
 *    those sums.
 *
 * Not reproduced: ggml stores the activation block scale (and Q8_1's sum) as
 * float16 where onnxruntime keeps float32. Emulating that costs about nine
 * small ops per quantized input (13-22 % of a decode step on SmolLM2-135M) and
 * changed no measured agreement figure beyond run-to-run noise.
 */
export interface GgmlNumerics {
  /** Rotary tables from ggml's float32 angle recurrence. */
  rotary?: boolean;
  /** K and V rounded to float16 as they enter the cache; Q and the attention weights rounded to float16 for their products. */
  halfAttention?: boolean;
  /** The block offsets of Q4_1/Q4_K weights multiply the sums of the int8-quantized activations (with accuracy_level 4). */
  quantizedBlockSums?: boolean;
}

/** Every llama.cpp-matching rounding on: what GGUF imports use. */
export const LLAMA_CPP_NUMERICS: Readonly<GgmlNumerics> = { rotary: true, halfAttention: true, quantizedBlockSums: true };

/**
 * Rotary angles [position][dims/2] as ggml's rope computes them: theta starts
 * at the position and is multiplied, in float32, by powf(base, -2/dims) for
 * each next pair of dimensions.
 */
export function ggmlRotaryAngles(maxPositions: number, dims: number, base: number): Float32Array {
  const half = dims / 2;
  const thetaScale = Math.fround(Math.pow(Math.fround(base), Math.fround(-2 / dims)));
  const angles = new Float32Array(maxPositions * half);
  for (let position = 0; position < maxPositions; position++) {
    let theta = Math.fround(position);
    for (let i = 0; i < half; i++) {
      angles[position * half + i] = theta;
      theta = Math.fround(theta * thetaScale);
    }
  }
  return angles;
}

/** Rotary angles [position][dims/2] in double precision: position / base^(2i/dims), as Hugging Face's Llama. */
export function exactRotaryAngles(maxPositions: number, dims: number, base: number): Float64Array {
  const half = dims / 2;
  const angles = new Float64Array(maxPositions * half);
  for (let position = 0; position < maxPositions; position++)
    for (let i = 0; i < half; i++) angles[position * half + i] = position / base ** ((2 * i) / dims);
  return angles;
}

/** x (float32) rounded to float16 and back: the value a float16 tensor would hold. */
export function roundToHalf(g: OnnxGraphBuilder, x: string): string {
  return g.op('Cast', [g.op('Cast', [x], { to: OnnxDataType.FLOAT16 })], { to: OnnxDataType.FLOAT });
}

/**
 * A K x (K / blockSize) matrix in MatMulNBits' 4-bit layout whose column b is
 * 1 on block b and 0 elsewhere, with zero points 0 (`zeroPoints`, packed two
 * per byte) so that no weight is stored relative to 8. Multiplied with
 * accuracy_level 4, it yields each block's sum of the int8-quantized
 * activations (their scale times the sum of the int8 values): what the
 * quantized product of the same activations uses.
 */
export function blockIndicator(K: number, blockSize: number): NBitsLinear & { zeroPoints: Buffer } {
  const blocks = K / blockSize;
  const blob = blockSize / 2;
  const data = Buffer.alloc(blocks * blocks * blob, 0);
  for (let b = 0; b < blocks; b++) data.fill(0x11, (b * blocks + b) * blob, (b * blocks + b + 1) * blob);
  return { kind: 'nbits', K, N: blocks, bits: 4, blockSize, data, scales: new Float32Array(blocks * blocks).fill(1), zeroPoints: Buffer.alloc(blocks * Math.ceil(blocks / 2), 0) };
}
