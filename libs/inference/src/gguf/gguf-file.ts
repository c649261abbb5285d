import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ModelLoadError } from '../errors';

/*
 * GGUF, the file format of llama.cpp (versions 2 and 3; version 1 used 32-bit
 * counts and has not been written since 2023). Little-endian:
 *   magic "GGUF", version u32, tensor count u64, metadata count u64,
 *   metadata: key (string), value type u32, value,
 *   tensor infos: name (string), dimension count u32, dimensions u64[] (the
 *     first one varies fastest), ggml type u32, offset u64 (from the start of
 *     the data section),
 *   padding to `general.alignment` (default 32), tensor data.
 * Strings are a u64 byte length and UTF-8 bytes without a terminator.
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** ggml tensor types (ggml.h `enum ggml_type`), the ones with a stable number. */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
}

/** Elements per block and bytes per block of each type whose layout this reader knows. */
export const GGML_BLOCK: Partial<Record<GgmlType, { elements: number; bytes: number }>> = {
  [GgmlType.F32]: { elements: 1, bytes: 4 },
  [GgmlType.F16]: { elements: 1, bytes: 2 },
  [GgmlType.BF16]: { elements: 1, bytes: 2 },
  [GgmlType.Q4_0]: { elements: 32, bytes: 18 },
  [GgmlType.Q4_1]: { elements: 32, bytes: 20 },
  [GgmlType.Q5_0]: { elements: 32, bytes: 22 },
  [GgmlType.Q5_1]: { elements: 32, bytes: 24 },
  [GgmlType.Q8_0]: { elements: 32, bytes: 34 },
  [GgmlType.Q2_K]: { elements: 256, bytes: 84 },
  [GgmlType.Q3_K]: { elements: 256, bytes: 110 },
  [GgmlType.Q4_K]: { elements: 256, bytes: 144 },
  [GgmlType.Q5_K]: { elements: 256, bytes: 176 },
  [GgmlType.Q6_K]: { elements: 256, bytes: 210 },
};

export function ggmlTypeName(type: number): string {
  return GgmlType[type] ?? `type ${type}`;
}

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] is the contiguous (innermost) dimension. */
  dims: number[];
  type: GgmlType;
  /** Offset from the start of the data section. */
  offset: number;
  /** Bytes the tensor takes (for the block types this reader knows). */
  byteLength: number;
}

export class GgufFormatError extends ModelLoadError {}

/**
 * An open GGUF file: its metadata and tensor table are read at open, tensor
 * data on demand (so a multi-gigabyte file is never held in memory at once).
 */
export class GgufFile {
  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly version: number,
    readonly metadata: Map<string, GgufValue>,
    readonly tensors: Map<string, GgufTensorInfo>,
    readonly dataOffset: number,
    readonly fileSize: number,
  ) {}

  static open(path: string): GgufFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      throw new GgufFormatError(`cannot open GGUF file ${path}: ${(error as Error).message}`);
    }
    try {
      const size = fstatSync(fd).size;
      const cursor = new Cursor(fd, size, path);
      const magic = cursor.u32();
      if (magic !== GGUF_MAGIC) {
        if (magic === 0x47475546) throw new GgufFormatError(`${path} is a big-endian GGUF file; only little-endian files are supported`);
        throw new GgufFormatError(`${path} is not a GGUF file (no "GGUF" magic at its start)`);
      }
      const version = cursor.u32();
      if (version !== 2 && version !== 3)
        throw new GgufFormatError(`${path} is GGUF version ${version}; versions 2 and 3 are supported`);
      const tensorCount = cursor.count('tensor count');
      const metadataCount = cursor.count('metadata count');
      const metadata = new Map<string, GgufValue>();
      for (let index = 0; index < metadataCount; index++) {
        const key = cursor.string();
        const type = cursor.u32() as GgufValueType;
        metadata.set(key, cursor.value(type, key));
      }
      const infos: { name: string; dims: number[]; type: number; offset: number }[] = [];
      for (let index = 0; index < tensorCount; index++) {
        const name = cursor.string();
        const rank = cursor.u32();
        if (rank > 4) throw new GgufFormatError(`tensor ${name} has ${rank} dimensions (ggml has at most 4)`);
        const dims: number[] = [];
        for (let d = 0; d < rank; d++) dims.push(cursor.count(`dimension of ${name}`));
        const type = cursor.u32();
        const offset = cursor.count(`offset of ${name}`);
        infos.push({ name, dims, type, offset });
      }
      const alignmentValue = metadata.get('general.alignment');
      const alignment = typeof alignmentValue === 'number' ? alignmentValue : GGUF_DEFAULT_ALIGNMENT;
      if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0)
        throw new GgufFormatError(`general.alignment ${String(alignmentValue)} is not a power of two`);
      const dataOffset = Math.ceil(cursor.position / alignment) * alignment;
      const tensors = new Map<string, GgufTensorInfo>();
      for (const info of infos) {
        if (info.offset % alignment !== 0)
          throw new GgufFormatError(`tensor ${info.name} starts at offset ${info.offset}, not a multiple of the alignment ${alignment}`);
        const block = GGML_BLOCK[info.type as GgmlType];
        const elements = info.dims.reduce((a, b) => a * b, 1);
        const byteLength = block ? (elements / block.elements) * block.bytes : 0;
        if (block && (info.dims[0] ?? 1) % block.elements !== 0)
          throw new GgufFormatError(`tensor ${info.name}: its row length ${info.dims[0]} is not a whole number of ${ggmlTypeName(info.type)} blocks`);
        if (dataOffset + info.offset + byteLength > size)
          throw new GgufFormatError(`tensor ${info.name} extends past the end of ${path} (the file is truncated)`);
        if (tensors.has(info.name)) throw new GgufFormatError(`tensor ${info.name} appears twice`);
        tensors.set(info.name, { ...info, type: info.type, byteLength });
      }
      return new GgufFile(path, fd, version, metadata, tensors, dataOffset, size);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** A metadata value, or undefined. */
  get(key: string): GgufValue | undefined {
    return this.metadata.get(key);
  }

  tensor(name: string): GgufTensorInfo | undefined {
    return this.tensors.get(name);
  }

  /** The raw bytes of a tensor, in its ggml type's layout. */
  read(name: string): Buffer {
    const info = this.tensors.get(name);
    if (!info) throw new GgufFormatError(`tensor ${name} is not in ${this.path}`);
    if (!GGML_BLOCK[info.type]) throw new GgufFormatError(`tensor ${name} has type ${ggmlTypeName(info.type)}, whose layout is not supported`);
    const data = Buffer.allocUnsafe(info.byteLength);
    readFully(this.fd, data, this.dataOffset + info.offset, this.path);
    return data;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function readFully(fd: number, target: Buffer, position: number, path: string): void {
  let done = 0;
  while (done < target.length) {
    const n = readSync(fd, target, done, Math.min(target.length - done, 1 << 30), position + done);
    if (n === 0) throw new GgufFormatError(`${path} ends unexpectedly`);
    done += n;
  }
}

/** Sequential reads of the header through a 1 MiB window. */
class Cursor {
  position = 0;
  private window = Buffer.alloc(0);
  private windowStart = 0;

  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly path: string,
  ) {}

  private take(length: number): Buffer {
    if (this.position + length > this.size) throw new GgufFormatError(`${this.path} ends inside its header (truncated at byte ${this.size})`);
    let start = this.position - this.windowStart;
    if (start < 0 || start + length > this.window.length) {
      this.window = Buffer.allocUnsafe(Math.min(Math.max(length, 1 << 20), this.size - this.position));
      readFully(this.fd, this.window, this.position, this.path);
      this.windowStart = this.position;
      start = 0;
    }
    this.position += length;
    return this.window.subarray(start, start + length);
  }

  u32(): number {
    return this.take(4).readUInt32LE(0);
  }

  u64(): bigint {
    return this.take(8).readBigUInt64LE(0);
  }

  /** A u64 used as a count, length or offset: must fit a safe integer and the file. */
  count(what: string): number {
    const value = this.u64();
    if (value > BigInt(this.size) * 8n) throw new GgufFormatError(`${this.path}: ${what} ${value} is larger than the file allows`);
    return Number(value);
  }

  string(): string {
    const length = this.count('string length');
    return this.take(length).toString('utf8');
  }

  value(type: GgufValueType, key: string): GgufValue {
    switch (type) {
      case GgufValueType.UINT8:
        return this.take(1).readUInt8(0);
      case GgufValueType.INT8:
        return this.take(1).readInt8(0);
      case GgufValueType.UINT16:
        return this.take(2).readUInt16LE(0);
      case GgufValueType.INT16:
        return this.take(2).readInt16LE(0);
      case GgufValueType.UINT32:
        return this.u32();
      case GgufValueType.INT32:
        return this.take(4).readInt32LE(0);
      case GgufValueType.FLOAT32:
        return this.take(4).readFloatLE(0);
      case GgufValueType.BOOL:
        return this.take(1).readUInt8(0) !== 0;
      case GgufValueType.STRING:
        return this.string();
      case GgufValueType.UINT64: {
        const value = this.u64();
        return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
      }
      case GgufValueType.INT64: {
        const value = this.take(8).readBigInt64LE(0);
        return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
      }
      case GgufValueType.FLOAT64:
        return this.take(8).readDoubleLE(0);
      case GgufValueType.ARRAY: {
        const itemType = this.u32() as GgufValueType;
        if (itemType === GgufValueType.ARRAY) throw new GgufFormatError(`metadata ${key}: nested arrays are not supported`);
        const length = this.count(`length of ${key}`);
        const items = new Array<GgufValue>(length);
        for (let index = 0; index < length; index++) items[index] = this.value(itemType, key);
        return items;
      }
      default:
        throw new GgufFormatError(`metadata ${key} has unknown value type ${String(type)}`);
    }
  }
}
