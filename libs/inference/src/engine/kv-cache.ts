export type KvArray = Float32Array | Uint16Array;

/**
 * Key/value cache of a batch in the layout the ONNX graph consumes:
 * per layer [batch, kv_heads, length, head_dim]. Rows are right-aligned:
 * row r holds its `valid` tokens in the last `valid` columns and the columns
 * before them are left padding that the attention mask hides. A cache the
 * engine appends to itself (graphs with NEW_KEY_VALUES) is left-aligned
 * instead: row r's tokens are its first columns and `length` is a capacity,
 * the free columns after each row's tokens masked.
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
  /** Where the row's tokens sit in `cache`: right (the default) or left-aligned. */
  align?: 'left' | 'right';
}

/** The layout assembleKvCache builds: right-aligned at the longest row's length, or left-aligned with room to append. */
export interface KvTarget {
  align: 'left' | 'right';
  /** Left-aligned: the length, at least the longest row. */
  capacity?: number;
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
export function assembleKvCache(
  layout: KvLayout,
  rows: readonly KvRowSource[],
  target: KvTarget = { align: 'right' },
): KvCache {
  const longest = rows.reduce((most, row) => Math.max(most, row.valid), 0);
  const length = target.align === 'left' ? Math.max(longest, target.capacity ?? longest) : longest;
  const { kvHeads, headDim } = layout;
  const size = rows.length * kvHeads * length * headDim;
  const copy = (pick: (cache: KvCache) => KvArray): KvArray => {
    const out = layout.elementType === 'float16' ? new Uint16Array(size) : new Float32Array(size);
    rows.forEach((source, index) => {
      const data = pick(source.cache);
      const sourceLength = source.cache.length;
      const span = source.valid * headDim;
      for (let head = 0; head < kvHeads; head++) {
        const fromColumn = source.align === 'left' ? 0 : sourceLength - source.valid;
        const toColumn = target.align === 'left' ? 0 : length - source.valid;
        const from = ((source.row * kvHeads + head) * sourceLength + fromColumn) * headDim;
        const to = ((index * kvHeads + head) * length + toColumn) * headDim;
        out.set(data.subarray(from, from + span), to);
      }
    });
    return out;
  };
  return {
    batch: rows.length,
    length,
    keys: Array.from({ length: layout.numLayers }, (_, layer) => copy((cache) => cache.keys[layer])),
    values: Array.from({ length: layout.numLayers }, (_, layer) => copy((cache) => cache.values[layer])),
  };
}

/**
 * Writes the keys and values of one new position per row into a left-aligned
 * cache, row r's at column `columns[r]`. `fresh` is a graph's NEW_KEY_VALUES
 * for a single position: per row, per layer, the key heads then the value heads.
 */
export function appendKvColumn(
  layout: KvLayout,
  cache: KvCache,
  fresh: KvArray,
  columns: readonly number[],
): void {
  const { kvHeads, headDim, numLayers } = layout;
  const span = kvHeads * headDim;
  const rowSize = 2 * numLayers * span;
  for (let row = 0; row < columns.length; row++) {
    for (let layer = 0; layer < numLayers; layer++) {
      const keyAt = row * rowSize + 2 * layer * span;
      for (let head = 0; head < kvHeads; head++) {
        const to = ((row * kvHeads + head) * cache.length + columns[row]) * headDim;
        const from = keyAt + head * headDim;
        cache.keys[layer].set(fresh.subarray(from, from + headDim), to);
        cache.values[layer].set(fresh.subarray(from + span, from + span + headDim), to);
      }
    }
  }
}
