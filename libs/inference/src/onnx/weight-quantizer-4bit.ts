import { QUANT_BLOCK_SIZE } from './weight-quantizer';

/**
 * 4-bit form of quantizeBlocks (the same block layout as llama.cpp's Q4_0):
 * per (n, block) of 32 weights along K one float32 scale = max |w| / 7 and
 * the weights rounded to [-8, 7], stored with MatMulNBits' default 4-bit zero
 * point 8, two per byte (element 2i in the low nibble, 2i + 1 in the high
 * one): q[n][block][16].
 */
export function quantizeBlocks4(
  values: Float32Array,
  K: number,
  N: number,
  transposed: boolean,
): { q: Buffer; scales: Float32Array } {
  const blocks = Math.ceil(K / QUANT_BLOCK_SIZE);
  const half = QUANT_BLOCK_SIZE / 2;
  // Zero point 8 in both nibbles: padding and all-zero blocks decode to 0.
  const q = Buffer.alloc(N * blocks * half, 0x88);
  const scales = new Float32Array(N * blocks);
  const at = transposed
    ? (k: number, n: number) => values[n * K + k]
    : (k: number, n: number) => values[k * N + n];
  for (let n = 0; n < N; n++) {
    for (let block = 0; block < blocks; block++) {
      const from = block * QUANT_BLOCK_SIZE;
      const to = Math.min(K, from + QUANT_BLOCK_SIZE);
      let max = 0;
      for (let k = from; k < to; k++) max = Math.max(max, Math.abs(at(k, n)));
      const scale = max / 7;
      scales[n * blocks + block] = scale;
      if (scale === 0) continue;
      const base = (n * blocks + block) * half;
      for (let k = from; k < to; k++) {
        const value = Math.max(-8, Math.min(7, Math.round(at(k, n) / scale))) + 8;
        const j = k - from;
        const byte = base + (j >> 1);
        q[byte] = j & 1 ? (q[byte] & 0x0f) | (value << 4) : (q[byte] & 0xf0) | value;
      }
    }
  }
  return { q, scales };
}
