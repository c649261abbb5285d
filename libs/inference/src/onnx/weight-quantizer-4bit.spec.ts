import { quantizeBlocks4 } from './weight-quantizer-4bit';

/** Reads weight k of column n back from the packed 4-bit blocks. */
function dequantize(q: Buffer, scales: Float32Array, K: number, k: number, n: number): number {
  const blocks = Math.ceil(K / 32);
  const block = Math.floor(k / 32);
  const j = k % 32;
  const byte = q[(n * blocks + block) * 16 + (j >> 1)];
  const nibble = j & 1 ? byte >> 4 : byte & 0x0f;
  return (nibble - 8) * scales[n * blocks + block];
}

describe('quantizeBlocks4', () => {
  const K = 40;
  const N = 3;
  // K x N, row-major, with a different range per column.
  const values = Float32Array.from({ length: K * N }, (_, i) => Math.sin(i * 1.7) * (1 + (i % N)));

  it('packs two weights per byte, low nibble first, within half a step of the original', () => {
    const { q, scales } = quantizeBlocks4(values, K, N, false);
    expect(q.length).toBe(N * 2 * 16);
    for (let k = 0; k < K; k++)
      for (let n = 0; n < N; n++) {
        const scale = scales[n * 2 + Math.floor(k / 32)];
        expect(Math.abs(dequantize(q, scales, K, k, n) - values[k * N + n])).toBeLessThanOrEqual(
          scale / 2 + 1e-6,
        );
      }
  });

  it('gives the same blocks for a transposed (N x K) matrix, and zero for the padding', () => {
    const transposed = Float32Array.from(
      { length: K * N },
      (_, i) => values[(i % K) * N + Math.floor(i / K)],
    );
    const direct = quantizeBlocks4(values, K, N, false);
    const viaTranspose = quantizeBlocks4(transposed, K, N, true);
    expect(viaTranspose.q.equals(direct.q)).toBe(true);
    expect(Array.from(viaTranspose.scales)).toEqual(Array.from(direct.scales));
    for (let k = K; k < 64; k++) expect(dequantize(direct.q, direct.scales, 64, k, 0)).toBe(0);
  });
});
