import { closeSync, openSync, writeSync } from 'node:fs';
import { ProtoMessage } from './protobuf-writer';

/** ONNX TensorProto.DataType values used by the generator and the weight quantizer. */
export enum OnnxDataType {
  FLOAT = 1,
  UINT8 = 2,
  INT32 = 6,
  INT64 = 7,
  BOOL = 9,
  FLOAT16 = 10,
}

/** A symbolic (named) or fixed dimension of a graph input or output. */
export type OnnxDim = string | number;

export type OnnxAttribute = number | number[] | string | { floats: number[] } | { tensor: OnnxTensor };

export interface OnnxTensor {
  name: string;
  dataType: OnnxDataType;
  dims: number[];
  /** Little-endian element bytes, referenced rather than copied. */
  data: Buffer;
}

export interface OnnxNodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attributes: Record<string, OnnxAttribute>;
  domain?: string;
}

interface ExternalPlacement {
  location: string;
  offset: number;
}

const MS_DOMAIN = 'com.microsoft';

// Field numbers of onnx.proto (ModelProto, GraphProto, NodeProto, ...).
const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/**
 * Builds an ONNX graph and serialises it as a ModelProto. Only the parts of
 * the format that a decoder-only transformer export needs are covered.
 */
export class OnnxGraphBuilder {
  private readonly nodes: OnnxNodeSpec[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly inputs: ProtoMessage[] = [];
  private readonly outputs: ProtoMessage[] = [];
  private readonly counters = new Map<string, number>();

  constructor(private readonly graphName: string) {}

  input(name: string, dataType: OnnxDataType, dims: OnnxDim[]): string {
    this.inputs.push(valueInfo(name, dataType, dims));
    return name;
  }

  output(name: string, dataType: OnnxDataType, dims: OnnxDim[]): void {
    this.outputs.push(valueInfo(name, dataType, dims));
  }

  initializer(tensor: OnnxTensor): string {
    this.initializers.push(tensor);
    return tensor.name;
  }

  int64s(name: string, values: number[], dims: number[] = [values.length]): string {
    const data = Buffer.alloc(values.length * 8);
    values.forEach((value, index) => data.writeBigInt64LE(BigInt(value), index * 8));
    return this.initializer({ name: this.unique(name), dataType: OnnxDataType.INT64, dims, data });
  }

  scalar(name: string, value: number, dataType: OnnxDataType): string {
    let data: Buffer;
    if (dataType === OnnxDataType.FLOAT16) {
      data = Buffer.alloc(2);
      data.writeUInt16LE(float32ToFloat16Bits(value));
    } else if (dataType === OnnxDataType.FLOAT) {
      data = Buffer.alloc(4);
      data.writeFloatLE(value);
    } else if (dataType === OnnxDataType.INT64) {
      data = Buffer.alloc(8);
      data.writeBigInt64LE(BigInt(value));
    } else throw new Error(`unsupported scalar type ${dataType}`);
    return this.initializer({ name: this.unique(name), dataType, dims: [], data });
  }

  /** Adds a node and returns the names of its outputs. */
  node(
    opType: string,
    inputs: string[],
    attributes: Record<string, OnnxAttribute> = {},
    outputCount = 1,
    outputNames?: string[],
  ): string[] {
    const name = this.unique(`/${opType}`);
    const outputs =
      outputNames ?? Array.from({ length: outputCount }, (_, index) => `${name}_output_${index}`);
    this.nodes.push({ opType, inputs, outputs, name, attributes });
    return outputs;
  }

  /** Same as node() for single-output nodes. */
  op(
    opType: string,
    inputs: string[],
    attributes: Record<string, OnnxAttribute> = {},
    outputName?: string,
  ): string {
    return this.node(opType, inputs, attributes, 1, outputName ? [outputName] : undefined)[0];
  }

  /** A single-output node of onnxruntime's com.microsoft domain (MatMulNBits, ...). */
  msOp(opType: string, inputs: string[], attributes: Record<string, OnnxAttribute> = {}): string {
    return this.msNode(opType, inputs, attributes, 1)[0];
  }

  /** node() in onnxruntime's com.microsoft domain; an empty output name leaves that optional output out. */
  msNode(
    opType: string,
    inputs: string[],
    attributes: Record<string, OnnxAttribute>,
    outputCount: number,
    outputNames?: string[],
  ): string[] {
    const outputs = this.node(opType, inputs, attributes, outputCount, outputNames);
    this.nodes[this.nodes.length - 1].domain = MS_DOMAIN;
    return outputs;
  }

  /** A value name no other call returns. */
  fresh(base: string): string {
    return this.unique(`/${base}`);
  }

  get parameterBytes(): number {
    return this.initializers.reduce((total, tensor) => total + tensor.data.length, 0);
  }

  /**
   * Serialises the model. Initializers of at least `externalThreshold` bytes
   * go to `externalLocation` (written by the caller through the returned
   * list) when external data is requested.
   */
  build(options: {
    opset: number;
    producer: string;
    external?: { location: string; thresholdBytes: number };
  }): {
    model: ProtoMessage;
    externalTensors: OnnxTensor[];
  } {
    const graph = new ProtoMessage();
    for (const node of this.nodes) graph.message(1, encodeNode(node));
    graph.string(2, this.graphName);
    const externalTensors: OnnxTensor[] = [];
    let offset = 0;
    for (const tensor of this.initializers) {
      let placement: ExternalPlacement | undefined;
      if (options.external && tensor.data.length >= options.external.thresholdBytes) {
        // Offsets aligned to 4 KiB let onnxruntime memory-map the weights.
        offset = Math.ceil(offset / 4096) * 4096;
        placement = { location: options.external.location, offset };
        externalTensors.push(tensor);
        offset += tensor.data.length;
      }
      graph.message(5, encodeTensor(tensor, placement));
    }
    for (const input of this.inputs) graph.message(11, input);
    for (const output of this.outputs) graph.message(12, output);

    const model = new ProtoMessage();
    // IR version 8 (opset 17-18 era) is read by every onnxruntime since 1.14;
    // opset 23 (Attention, RotaryEmbedding) came with IR version 11.
    model.varint(1, options.opset >= 23 ? 11 : 8);
    model.string(2, options.producer);
    model.string(3, '1');
    model.message(7, graph);
    model.message(8, new ProtoMessage().string(1, '').varint(2, options.opset));
    if (this.nodes.some((node) => node.domain === MS_DOMAIN))
      model.message(8, new ProtoMessage().string(1, MS_DOMAIN).varint(2, 1));
    return { model, externalTensors };
  }

  private unique(base: string): string {
    const count = this.counters.get(base) ?? 0;
    this.counters.set(base, count + 1);
    return count === 0 ? base : `${base}_${count}`;
  }
}

export function valueInfo(name: string, dataType: OnnxDataType, dims: OnnxDim[]): ProtoMessage {
  const shape = new ProtoMessage();
  for (const dim of dims) {
    const dimension = new ProtoMessage();
    if (typeof dim === 'number') dimension.varint(1, dim);
    else dimension.string(2, dim);
    shape.message(1, dimension);
  }
  const tensorType = new ProtoMessage().varint(1, dataType).message(2, shape);
  return new ProtoMessage().string(1, name).message(2, new ProtoMessage().message(1, tensorType));
}

export function encodeTensor(tensor: OnnxTensor, external?: ExternalPlacement): ProtoMessage {
  const message = new ProtoMessage();
  if (tensor.dims.length > 0) message.packedVarints(1, tensor.dims);
  message.varint(2, tensor.dataType);
  message.string(8, tensor.name);
  if (external) {
    const entry = (key: string, value: string): ProtoMessage =>
      new ProtoMessage().string(1, key).string(2, value);
    message.message(13, entry('location', external.location));
    message.message(13, entry('offset', String(external.offset)));
    message.message(13, entry('length', String(tensor.data.length)));
    message.varint(14, 1);
  } else message.bytes(9, tensor.data);
  return message;
}

export function encodeNode(node: OnnxNodeSpec): ProtoMessage {
  const message = new ProtoMessage();
  for (const input of node.inputs) message.string(1, input);
  for (const output of node.outputs) message.string(2, output);
  message.string(3, node.name);
  message.string(4, node.opType);
  for (const [name, value] of Object.entries(node.attributes))
    message.message(5, encodeAttribute(name, value));
  if (node.domain) message.string(7, node.domain);
  return message;
}

function encodeAttribute(name: string, value: OnnxAttribute): ProtoMessage {
  const message = new ProtoMessage().string(1, name);
  if (typeof value === 'number') {
    if (Number.isInteger(value)) message.varint(3, value).varint(20, ATTRIBUTE_TYPE.INT);
    else message.float(2, value).varint(20, ATTRIBUTE_TYPE.FLOAT);
  } else if (typeof value === 'string') message.string(4, value).varint(20, ATTRIBUTE_TYPE.STRING);
  else if (Array.isArray(value)) message.packedVarints(8, value).varint(20, ATTRIBUTE_TYPE.INTS);
  else if ('floats' in value) message.packedFloats(7, value.floats).varint(20, ATTRIBUTE_TYPE.FLOATS);
  else message.message(5, encodeTensor(value.tensor)).varint(20, ATTRIBUTE_TYPE.TENSOR);
  return message;
}

const float32Scratch = new Float32Array(1);
const uint32Scratch = new Uint32Array(float32Scratch.buffer);

/** IEEE 754 binary32 to binary16 with round-to-nearest-even. */
export function float32ToFloat16Bits(value: number): number {
  float32Scratch[0] = value;
  const bits = uint32Scratch[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && half & 1)) half++;
    return sign | half;
  }
  // A mantissa that rounds up past 0x3ff carries into the exponent, which is the
  // correctly rounded result (up to and including infinity).
  let half = (e << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * Writes the external-data file of a graph built with `external`: the
 * tensors' bytes in order, each at the next 4 KiB boundary, matching the
 * offsets that build() recorded in the graph.
 */
export function writeExternalData(path: string, buffers: Buffer[]): void {
  const fd = openSync(path, 'w');
  try {
    let position = 0;
    for (const buffer of buffers) {
      position = Math.ceil(position / 4096) * 4096;
      let written = 0;
      while (written < buffer.length)
        written += writeSync(
          fd,
          buffer,
          written,
          Math.min(buffer.length - written, 1 << 30),
          position + written,
        );
      position += buffer.length;
    }
  } finally {
    closeSync(fd);
  }
}
