export type KvArray = Float32Array | Uint16Array;

/**
 * Key/value cache of a batch in the layout the ONNX graph consumes:
 * per layer [batch, kv_heads, length, head_dim]. Rows are right-aligned:
 * row r holds its `valid` tokens in the last `valid` columns and the columns
 * before them are left padding that the attention mask hides.
 */
export interface KvCache {
  batch: number;
  length: number;
  keys: KvArray[];
  values: KvArray[];
}

export interface KvLayout {
  numLayers: number;
  kvHeads: number;
  headDim: number;
  elementType: 'float32' | 'float16';
}

export interface KvRowSource {
  cache: KvCache;
  row: number;
  valid: number;
}

export function emptyKvCache(layout: KvLayout, batch: number): KvCache {
  const make = (): KvArray => (layout.elementType === 'float16' ? new Uint16Array(0) : new Float32Array(0));
  return {
    batch,
    length: 0,
    keys: Array.from({ length: layout.numLayers }, make),
    values: Array.from({ length: layout.numLayers }, make),
  };
}

/**
 * Builds a new batch cache from rows of existing caches (joining requests,
 * dropping finished ones). The new length is the longest row, so left
 * padding that no row needs any more disappears at the same time.
 */
export function assembleKvCache(layout: KvLayout, rows: readonly KvRowSource[]): KvCache {
  const length = rows.reduce((longest, row) => Math.max(longest, row.valid), 0);
  const { kvHeads, headDim } = layout;
  const size = rows.length * kvHeads * length * headDim;
  const copy = (pick: (cache: KvCache) => KvArray): KvArray => {
    const target = layout.elementType === 'float16' ? new Uint16Array(size) : new Float32Array(size);
    rows.forEach((source, index) => {
      const data = pick(source.cache);
      const sourceLength = source.cache.length;
      const span = source.valid * headDim;
      for (let head = 0; head < kvHeads; head++) {
        const from = ((source.row * kvHeads + head) * sourceLength + sourceLength - source.valid) * headDim;
        const to = ((index * kvHeads + head) * length + length - source.valid) * headDim;
        target.set(data.subarray(from, from + span), to);
      }
    });
    return target;
  };
  return {
    batch: rows.length,
    length,
    keys: Array.from({ length: layout.numLayers }, (_, layer) => copy((cache) => cache.keys[layer])),
    values: Array.from({ length: layout.numLayers }, (_, layer) => copy((cache) => cache.values[layer])),
  };
}
