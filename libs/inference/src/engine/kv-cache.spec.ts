import { appendKvColumn, assembleKvCache, type KvCache, type KvLayout } from './kv-cache';

const layout: KvLayout = { numLayers: 1, kvHeads: 2, headDim: 1, elementType: 'float32' };

/** A cache whose values encode (row, head, column) so that moves are visible. */
function cache(batch: number, length: number): KvCache {
  const data = new Float32Array(batch * layout.kvHeads * length);
  for (let row = 0; row < batch; row++)
    for (let head = 0; head < layout.kvHeads; head++)
      for (let column = 0; column < length; column++) data[(row * layout.kvHeads + head) * length + column] = row * 100 + head * 10 + column + 1;
  return { batch, length, keys: [data], values: [data.map((value) => -value)] };
}

describe('assembleKvCache', () => {
  it('right-aligns each row and zeroes the left padding', () => {
    const running = cache(2, 3);
    const joining = cache(1, 4);
    const merged = assembleKvCache(layout, [
      { cache: running, row: 1, valid: 2 },
      { cache: joining, row: 0, valid: 4 },
    ]);
    expect(merged.batch).toBe(2);
    expect(merged.length).toBe(4);
    // Row 0 is old row 1 with its last two columns; row 1 is the joining row whole.
    expect(Array.from(merged.keys[0])).toEqual([0, 0, 102, 103, 0, 0, 112, 113, 1, 2, 3, 4, 11, 12, 13, 14]);
    expect(Array.from(merged.values[0])).toEqual([0, 0, -102, -103, 0, 0, -112, -113, -1, -2, -3, -4, -11, -12, -13, -14]);
  });

  it('drops padding no remaining row needs when the longest row leaves', () => {
    const merged = assembleKvCache(layout, [{ cache: cache(2, 5), row: 0, valid: 2 }]);
    expect(merged.length).toBe(2);
    expect(Array.from(merged.keys[0])).toEqual([4, 5, 14, 15]);
  });

  it('copies half-precision caches as raw 16-bit words', () => {
    const half: KvLayout = { ...layout, kvHeads: 1 };
    const source: KvCache = { batch: 1, length: 2, keys: [Uint16Array.of(0x3c00, 0x4000)], values: [Uint16Array.of(1, 2)] };
    const merged = assembleKvCache({ ...half, elementType: 'float16' }, [{ cache: source, row: 0, valid: 2 }]);
    expect(merged.keys[0]).toBeInstanceOf(Uint16Array);
    expect(Array.from(merged.keys[0])).toEqual([0x3c00, 0x4000]);
  });

  it('left-aligns rows with free columns up to a capacity, from right- and left-aligned sources', () => {
    const right = cache(1, 3);
    const merged = assembleKvCache(layout, [{ cache: right, row: 0, valid: 2 }], { align: 'left', capacity: 4 });
    expect(merged.length).toBe(4);
    expect(Array.from(merged.keys[0])).toEqual([2, 3, 0, 0, 12, 13, 0, 0]);
    const again = assembleKvCache(layout, [{ cache: merged, row: 0, valid: 2, align: 'left' }, { cache: right, row: 0, valid: 3 }], { align: 'left', capacity: 5 });
    expect(Array.from(again.keys[0])).toEqual([2, 3, 0, 0, 0, 12, 13, 0, 0, 0, 1, 2, 3, 0, 0, 11, 12, 13, 0, 0]);
  });
});

describe('appendKvColumn', () => {
  it("writes each row's new key and value heads into the column after its tokens", () => {
    const target: KvCache = { batch: 2, length: 3, keys: [new Float32Array(12)], values: [new Float32Array(12)] };
    // Per row: layer 0's key heads, then its value heads.
    const fresh = Float32Array.of(1, 2, -1, -2, 3, 4, -3, -4);
    appendKvColumn(layout, target, fresh, [0, 2]);
    expect(Array.from(target.keys[0])).toEqual([1, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 4]);
    expect(Array.from(target.values[0])).toEqual([-1, 0, 0, -2, 0, 0, 0, 0, -3, 0, 0, -4]);
  });
});
