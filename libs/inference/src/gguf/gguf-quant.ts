import { float16BitsToFloat32 } from '../onnx/onnx-builder';
import { GGML_BLOCK, GgmlType, ggmlTypeName, GgufFormatError } from './gguf-file';

/*
 * ggml's block formats, and their conversion into the weight layout of
 * onnxruntime's com.microsoft MatMulNBits without rounding anything again.
 *
 * MatMulNBits holds B (K x N) as N rows of K/blockSize blocks; element k of a
 * block is byte k/2 of the block (low nibble for even k) at 4 bits, byte k at
 * 8 bits; a block's weight is scale * (q - zeroPoint), with the default zero
 * point 2^(bits-1). Its CPU kernel takes packed uint8 zero points on its fast
 * path but a float zero point only through a slow full dequantization (about
 * 40x slower in onnxruntime 1.29), so the minimum of Q4_1 and Q4_K blocks
 * (w = d*q + m) is not put into a zero point: it becomes a per-block offset,
 * w = d*(q - 8) + (m + 8d), and the offset's contribution, the sum of the
 * activations of the block times the offset, is a small float MatMul beside
 * MatMulNBits (see llama-graph.ts). Both parts are exact up to float32
 * rounding.
 *
 *   Q4_0 (32 weights: f16 d, 16 bytes; element j in the low nibble of byte j,
 *        element j+16 in its high nibble), w = d*(q-8): 4 bits, block 32.
 *   Q4_1 (f16 d, f16 m, 16 bytes, same nibble order), w = d*q + m: 4 bits,
 *        block 32, offset m + 8d.
 *   Q8_0 (f16 d, 32 int8), w = d*q: 8 bits (q + 128), block 32.
 *   Q4_K (256 weights: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins for
 *        eight sub-blocks of 32, 128 bytes of nibbles: sub-blocks 2i and 2i+1
 *        share 32 bytes, low and high nibbles), w = d*sc*q - dmin*m: 4 bits,
 *        block 32, offset 8*d*sc - dmin*m.
 *   Q6_K (256 weights: 128 bytes of low nibbles, 64 bytes of high 2-bit
 *        pairs, 16 int8 scales for sub-blocks of 16, f16 d),
 *        w = d*sc*(q - 32): 8 bits (q + 96), block 16.
 */

/** A float matrix in ggml's row layout: N rows (output features) of K values. */
export interface FloatLinear {
  kind: 'float';
  K: number;
  N: number;
  rows: Float32Array;
}

/** A matrix in MatMulNBits' layout, plus per-block offsets where the format has a minimum. */
export interface NBitsLinear {
  kind: 'nbits';
  K: number;
  N: number;
  bits: 4 | 8;
  blockSize: number;
  /** [N][K / blockSize][blockSize * bits / 8] */
  data: Buffer;
  /** [N][K / blockSize] */
  scales: Float32Array;
  /** [N][K / blockSize]: added to every weight of the block, when present. */
  offsets?: Float32Array;
}

export type LinearWeight = FloatLinear | NBitsLinear;

/** Tensor types a linear layer can have. */
export const SUPPORTED_LINEAR_TYPES = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K];

export function supportedTypeNames(): string {
  return SUPPORTED_LINEAR_TYPES.map((type) => ggmlTypeName(type)).join(', ');
}

const HALF = (() => {
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) table[bits] = float16BitsToFloat32(bits);
  return table;
})();

function half(data: Buffer, offset: number): number {
  return HALF[data[offset] | (data[offset + 1] << 8)];
}

function bf16(data: Buffer, offset: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint16(2, data[offset] | (data[offset + 1] << 8));
  return view.getFloat32(0);
}

function unsupported(tensor: string, type: GgmlType): GgufFormatError {
  return new GgufFormatError(`tensor ${tensor} has type ${ggmlTypeName(type)}, which the importer does not support (supported: ${supportedTypeNames()})`);
}

/** Bytes of one row of K elements of a type. */
export function rowBytes(type: GgmlType, K: number, tensor: string): number {
  const block = GGML_BLOCK[type];
  if (!block) throw unsupported(tensor, type);
  return (K / block.elements) * block.bytes;
}

/** Reorders whole rows: row r of the result is row perm[r] of `data`. */
export function permuteRows(data: Buffer, bytesPerRow: number, perm: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let row = 0; row < perm.length; row++) data.copy(out, row * bytesPerRow, perm[row] * bytesPerRow, (perm[row] + 1) * bytesPerRow);
  return out;
}

/** Values of a tensor of any supported type, as float32 in ggml's order. */
export function dequantize(type: GgmlType, data: Buffer, count: number, tensor: string): Float32Array {
  const out = new Float32Array(count);
  switch (type) {
    case GgmlType.F32:
      for (let i = 0; i < count; i++) out[i] = data.readFloatLE(i * 4);
      return out;
    case GgmlType.F16:
      for (let i = 0; i < count; i++) out[i] = half(data, i * 2);
      return out;
    case GgmlType.BF16:
      for (let i = 0; i < count; i++) out[i] = bf16(data, i * 2);
      return out;
    case GgmlType.Q4_0:
    case GgmlType.Q4_1:
    case GgmlType.Q8_0:
    case GgmlType.Q4_K:
    case GgmlType.Q6_K: {
      // Through the MatMulNBits form, so both paths share one reading of each format.
      const linear = toLinearWeight(type, data, count, 1, tensor) as NBitsLinear;
      return dequantizeNBits(linear);
    }
    default:
      throw unsupported(tensor, type);
  }
}

/** w[n][k] of an NBitsLinear, as float32 (N x K). */
export function dequantizeNBits(linear: NBitsLinear): Float32Array {
  const { K, N, bits, blockSize, data, scales, offsets } = linear;
  const blocks = K / blockSize;
  const blob = (blockSize * bits) / 8;
  const zero = bits === 4 ? 8 : 128;
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const index = n * blocks + b;
      const scale = scales[index];
      const offset = offsets ? offsets[index] : 0;
      const base = index * blob;
      for (let j = 0; j < blockSize; j++) {
        const q = bits === 4 ? (j & 1 ? data[base + (j >> 1)] >> 4 : data[base + (j >> 1)] & 15) : data[base + j];
        out[n * K + b * blockSize + j] = scale * (q - zero) + offset;
      }
    }
  }
  return out;
}

/**
 * Converts a ggml matrix of N rows of K elements into a linear layer's weight:
 * MatMulNBits' layout for the block formats (no value changes), float32 rows
 * for F32/F16/BF16. Anything else is an error naming the tensor and its type.
 */
export function toLinearWeight(type: GgmlType, data: Buffer, K: number, N: number, tensor: string): LinearWeight {
  const expected = rowBytes(type, K, tensor) * N;
  if (data.length !== expected) throw new GgufFormatError(`tensor ${tensor} holds ${data.length} bytes, not the ${expected} of ${N} x ${K} ${ggmlTypeName(type)}`);
  switch (type) {
    case GgmlType.F32:
    case GgmlType.F16:
    case GgmlType.BF16:
      return { kind: 'float', K, N, rows: dequantize(type, data, K * N, tensor) };
    case GgmlType.Q4_0:
    case GgmlType.Q4_1: {
      const withMin = type === GgmlType.Q4_1;
      const blockBytes = withMin ? 20 : 18;
      const count = (K / 32) * N;
      const out = Buffer.allocUnsafe(count * 16);
      const scales = new Float32Array(count);
      const offsets = withMin ? new Float32Array(count) : undefined;
      for (let block = 0; block < count; block++) {
        const src = block * blockBytes;
        const d = half(data, src);
        scales[block] = d;
        if (offsets) offsets[block] = half(data, src + 2) + 8 * d;
        const qs = src + (withMin ? 4 : 2);
        const dst = block * 16;
        // ggml: byte j holds elements j (low) and j+16 (high); MatMulNBits: byte i holds 2i (low) and 2i+1 (high).
        for (let i = 0; i < 16; i++) {
          const e0 = 2 * i;
          const e1 = 2 * i + 1;
          const lo = e0 < 16 ? data[qs + e0] & 15 : data[qs + e0 - 16] >> 4;
          const hi = e1 < 16 ? data[qs + e1] & 15 : data[qs + e1 - 16] >> 4;
          out[dst + i] = lo | (hi << 4);
        }
      }
      return { kind: 'nbits', K, N, bits: 4, blockSize: 32, data: out, scales, offsets };
    }
    case GgmlType.Q8_0: {
      const count = (K / 32) * N;
      const out = Buffer.allocUnsafe(count * 32);
      const scales = new Float32Array(count);
      for (let block = 0; block < count; block++) {
        const src = block * 34;
        scales[block] = half(data, src);
        for (let j = 0; j < 32; j++) out[block * 32 + j] = (data[src + 2 + j] + 128) & 255; // int8 + 128 as uint8
      }
      return { kind: 'nbits', K, N, bits: 8, blockSize: 32, data: out, scales };
    }
    case GgmlType.Q4_K: {
      const superBlocks = (K / 256) * N;
      const out = Buffer.allocUnsafe(superBlocks * 128);
      const scales = new Float32Array(superBlocks * 8);
      const offsets = new Float32Array(superBlocks * 8);
      for (let sb = 0; sb < superBlocks; sb++) {
        const src = sb * 144;
        const d = half(data, src);
        const dmin = half(data, src + 2);
        const sc = src + 4;
        for (let sub = 0; sub < 8; sub++) {
          let scale: number;
          let min: number;
          if (sub < 4) {
            scale = data[sc + sub] & 63;
            min = data[sc + sub + 4] & 63;
          } else {
            scale = (data[sc + sub + 4] & 15) | ((data[sc + sub - 4] >> 6) << 4);
            min = (data[sc + sub + 4] >> 4) | ((data[sc + sub] >> 6) << 4);
          }
          const index = sb * 8 + sub;
          scales[index] = Math.fround(d * scale);
          offsets[index] = Math.fround(8 * Math.fround(d * scale) - Math.fround(dmin * min));
          // Sub-blocks 2p and 2p+1 are the low and high nibbles of the same 32 bytes.
          const qs = src + 16 + (sub >> 1) * 32;
          const high = sub & 1;
          const dst = index * 16;
          for (let i = 0; i < 16; i++) {
            const a = high ? data[qs + 2 * i] >> 4 : data[qs + 2 * i] & 15;
            const b = high ? data[qs + 2 * i + 1] >> 4 : data[qs + 2 * i + 1] & 15;
            out[dst + i] = a | (b << 4);
          }
        }
      }
      return { kind: 'nbits', K, N, bits: 4, blockSize: 32, data: out, scales, offsets };
    }
    case GgmlType.Q6_K: {
      const superBlocks = (K / 256) * N;
      const out = Buffer.allocUnsafe(superBlocks * 256);
      const scales = new Float32Array(superBlocks * 16);
      for (let sb = 0; sb < superBlocks; sb++) {
        const src = sb * 210;
        const d = half(data, src + 208);
        for (let s = 0; s < 16; s++) scales[sb * 16 + s] = Math.fround(d * ((data[src + 192 + s] << 24) >> 24));
        const dst = sb * 256;
        for (let part = 0; part < 2; part++) {
          const ql = src + part * 64;
          const qh = src + 128 + part * 32;
          const y = dst + part * 128;
          for (let l = 0; l < 32; l++) {
            const h = data[qh + l];
            out[y + l] = ((data[ql + l] & 15) | ((h & 3) << 4)) + 96;
            out[y + l + 32] = ((data[ql + l + 32] & 15) | (((h >> 2) & 3) << 4)) + 96;
            out[y + l + 64] = ((data[ql + l] >> 4) | (((h >> 4) & 3) << 4)) + 96;
            out[y + l + 96] = ((data[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) + 96;
          }
        }
      }
      return { kind: 'nbits', K, N, bits: 8, blockSize: 16, data: out, scales };
    }
    default:
      throw unsupported(tensor, type);
  }
}
