/** One field of a protobuf message as it lies in the buffer. */
export interface ProtoField {
  field: number;
  wireType: number;
  /** The whole field, tag included: copy it to re-emit the field unchanged. */
  encoded: Buffer;
  /** Length-delimited payload (wire type 2), referenced, not copied. */
  payload?: Buffer;
  /** Varint value (wire type 0). */
  varint?: bigint;
}

function readVarint(buffer: Buffer, offset: number): { value: bigint; next: number } {
  let value = 0n;
  let shift = 0n;
  let position = offset;
  for (;;) {
    if (position >= buffer.length) throw new Error('truncated protobuf varint');
    const byte = buffer[position++];
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return { value, next: position };
    shift += 7n;
    if (shift > 63n) throw new Error('protobuf varint longer than 64 bits');
  }
}

/**
 * Splits a protobuf message into its fields, in order, without a schema.
 * Payloads point into `buffer`, so a model's weights are not copied.
 */
export function parseProto(buffer: Buffer): ProtoField[] {
  const fields: ProtoField[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    const start = offset;
    const key = readVarint(buffer, offset);
    const field = Number(key.value >> 3n);
    const wireType = Number(key.value & 7n);
    offset = key.next;
    const entry: Partial<ProtoField> = { field, wireType };
    if (wireType === 0) {
      const v = readVarint(buffer, offset);
      entry.varint = v.value;
      offset = v.next;
    } else if (wireType === 1) offset += 8;
    else if (wireType === 5) offset += 4;
    else if (wireType === 2) {
      const length = readVarint(buffer, offset);
      const end = length.next + Number(length.value);
      if (end > buffer.length) throw new Error('truncated protobuf field');
      entry.payload = buffer.subarray(length.next, end);
      offset = end;
    } else throw new Error(`unsupported protobuf wire type ${wireType}`);
    if (offset > buffer.length) throw new Error('truncated protobuf field');
    entry.encoded = buffer.subarray(start, offset);
    fields.push(entry as ProtoField);
  }
  return fields;
}

/** The values of a repeated int64 field, packed or not. */
export function int64Values(fields: ProtoField[], field: number): bigint[] {
  const values: bigint[] = [];
  for (const entry of fields) {
    if (entry.field !== field) continue;
    if (entry.varint !== undefined) values.push(BigInt.asIntN(64, entry.varint));
    else if (entry.payload) {
      let offset = 0;
      while (offset < entry.payload.length) {
        const v = readVarint(entry.payload, offset);
        values.push(BigInt.asIntN(64, v.value));
        offset = v.next;
      }
    }
  }
  return values;
}

export function stringValue(fields: ProtoField[], field: number): string | undefined {
  const entry = fields.find((f) => f.field === field && f.payload);
  return entry ? entry.payload!.toString('utf8') : undefined;
}

export function stringValues(fields: ProtoField[], field: number): string[] {
  return fields.filter((f) => f.field === field && f.payload).map((f) => f.payload!.toString('utf8'));
}
