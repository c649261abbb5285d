import { writeFileSync } from 'node:fs';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, type GgmlType, GgufValueType } from './gguf-file';

/** A metadata entry: its value type is explicit, as GGUF stores it. */
export type GgufEntry =
  | { key: string; type: GgufValueType.STRING; value: string }
  | { key: string; type: GgufValueType.UINT32 | GgufValueType.INT32 | GgufValueType.FLOAT32 | GgufValueType.UINT64 | GgufValueType.UINT8; value: number }
  | { key: string; type: GgufValueType.BOOL; value: boolean }
  | { key: string; type: GgufValueType.ARRAY; itemType: GgufValueType.STRING; value: string[] }
  | { key: string; type: GgufValueType.ARRAY; itemType: GgufValueType.INT32 | GgufValueType.FLOAT32; value: number[] };

export interface GgufTensorSpec {
  name: string;
  /** ggml order: dims[0] varies fastest. */
  dims: number[];
  type: GgmlType;
  data: Buffer;
}

class ByteSink {
  private readonly chunks: Buffer[] = [];
  length = 0;
  push(buffer: Buffer): void {
    this.chunks.push(buffer);
    this.length += buffer.length;
  }
  u32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    this.push(b);
  }
  u64(value: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(value));
    this.push(b);
  }
  string(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  scalar(type: GgufValueType, value: number | boolean | string): void {
    const b = Buffer.alloc(8);
    switch (type) {
      case GgufValueType.STRING:
        return this.string(value as string);
      case GgufValueType.UINT8:
        b.writeUInt8(value as number);
        return this.push(b.subarray(0, 1));
      case GgufValueType.BOOL:
        b.writeUInt8(value ? 1 : 0);
        return this.push(b.subarray(0, 1));
      case GgufValueType.UINT32:
        b.writeUInt32LE(value as number);
        return this.push(b.subarray(0, 4));
      case GgufValueType.INT32:
        b.writeInt32LE(value as number);
        return this.push(b.subarray(0, 4));
      case GgufValueType.FLOAT32:
        b.writeFloatLE(value as number);
        return this.push(b.subarray(0, 4));
      case GgufValueType.UINT64:
        return this.u64(value as number);
      default:
        throw new Error(`value type ${type} is not written by this writer`);
    }
  }
  pad(alignment: number): void {
    const padding = (alignment - (this.length % alignment)) % alignment;
    if (padding > 0) this.push(Buffer.alloc(padding));
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/**
 * Serialises a GGUF file (version 3 by default, or 2). Used to build small
 * models for the importer's tests; the layout is the one GgufFile reads.
 */
export function encodeGguf(entries: GgufEntry[], tensors: GgufTensorSpec[], options: { version?: 2 | 3; alignment?: number } = {}): Buffer {
  const alignment = options.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  const out = new ByteSink();
  out.u32(GGUF_MAGIC);
  out.u32(options.version ?? 3);
  out.u64(tensors.length);
  const all: GgufEntry[] = alignment === GGUF_DEFAULT_ALIGNMENT ? entries : [...entries, { key: 'general.alignment', type: GgufValueType.UINT32, value: alignment }];
  out.u64(all.length);
  for (const entry of all) {
    out.string(entry.key);
    out.u32(entry.type);
    if (entry.type === GgufValueType.ARRAY) {
      out.u32(entry.itemType);
      out.u64(entry.value.length);
      for (const item of entry.value) out.scalar(entry.itemType, item);
    } else out.scalar(entry.type, entry.value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const tensor of tensors) {
    offset = Math.ceil(offset / alignment) * alignment;
    offsets.push(offset);
    offset += tensor.data.length;
  }
  tensors.forEach((tensor, index) => {
    out.string(tensor.name);
    out.u32(tensor.dims.length);
    for (const dim of tensor.dims) out.u64(dim);
    out.u32(tensor.type);
    out.u64(offsets[index]);
  });
  out.pad(alignment);
  const dataStart = out.length;
  tensors.forEach((tensor, index) => {
    const padding = dataStart + offsets[index] - out.length;
    if (padding > 0) out.push(Buffer.alloc(padding));
    out.push(tensor.data);
  });
  return out.toBuffer();
}

export function writeGguf(path: string, entries: GgufEntry[], tensors: GgufTensorSpec[], options?: { version?: 2 | 3; alignment?: number }): void {
  writeFileSync(path, encodeGguf(entries, tensors, options));
}
