import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * A protobuf message under construction. Field payloads are kept as a list of
 * buffers and nested messages rather than one concatenated buffer, so that a
 * model with gigabytes of weights is written straight from the weight arrays
 * to disk without ever being copied into a single protobuf buffer.
 */
export class ProtoMessage {
  private readonly parts: (Buffer | ProtoMessage)[] = [];
  private cachedLength = -1;

  get byteLength(): number {
    if (this.cachedLength < 0) {
      let total = 0;
      for (const part of this.parts)
        total += part instanceof ProtoMessage ? part.byteLength + varintLength(part.byteLength) : part.length;
      this.cachedLength = total;
    }
    return this.cachedLength;
  }

  varint(field: number, value: number | bigint): this {
    return this.push(Buffer.concat([tag(field, 0), encodeVarint(value)]));
  }

  float(field: number, value: number): this {
    const body = Buffer.alloc(4);
    body.writeFloatLE(value);
    return this.push(Buffer.concat([tag(field, 5), body]));
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  /** A length-delimited field; the payload is referenced, not copied. */
  bytes(field: number, payload: Buffer): this {
    this.push(Buffer.concat([tag(field, 2), encodeVarint(payload.length)]));
    return this.push(payload);
  }

  message(field: number, child: ProtoMessage): this {
    this.push(tag(field, 2));
    return this.push(child);
  }

  /** Appends a field that is already encoded (tag included), e.g. one copied from a parsed message. */
  encoded(field: Buffer): this {
    return this.push(field);
  }

  packedVarints(field: number, values: readonly (number | bigint)[]): this {
    return this.bytes(field, Buffer.concat(values.map((value) => encodeVarint(value))));
  }

  packedFloats(field: number, values: readonly number[]): this {
    const body = Buffer.alloc(values.length * 4);
    values.forEach((value, index) => body.writeFloatLE(value, index * 4));
    return this.bytes(field, body);
  }

  /** Streams the encoded message to a file. */
  writeToFile(path: string): void {
    const fd = openSync(path, 'w');
    try {
      this.writeParts(fd);
    } finally {
      closeSync(fd);
    }
  }

  toBuffer(): Buffer {
    const chunks: Buffer[] = [];
    this.collect(chunks);
    return Buffer.concat(chunks);
  }

  private collect(chunks: Buffer[]): void {
    for (const part of this.parts) {
      if (part instanceof ProtoMessage) {
        chunks.push(encodeVarint(part.byteLength));
        part.collect(chunks);
      } else chunks.push(part);
    }
  }

  private writeParts(fd: number): void {
    for (const part of this.parts) {
      if (part instanceof ProtoMessage) {
        writeAll(fd, encodeVarint(part.byteLength));
        part.writeParts(fd);
      } else writeAll(fd, part);
    }
  }

  private push(part: Buffer | ProtoMessage): this {
    this.parts.push(part);
    this.cachedLength = -1;
    return this;
  }
}

function writeAll(fd: number, buffer: Buffer): void {
  let offset = 0;
  while (offset < buffer.length)
    offset += writeSync(fd, buffer, offset, Math.min(buffer.length - offset, 1 << 30));
}

function tag(field: number, wireType: number): Buffer {
  return encodeVarint(field * 8 + wireType);
}

export function encodeVarint(value: number | bigint): Buffer {
  // Negative int64 values are encoded as their 64-bit two's complement.
  let v = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (v > 0n);
  return Buffer.from(bytes);
}

function varintLength(value: number): number {
  let length = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    length++;
  }
  return length;
}
