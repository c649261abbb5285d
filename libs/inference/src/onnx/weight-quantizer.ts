import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { encodeNode, encodeTensor, OnnxDataType } from './onnx-builder';
import { int64Values, parseProto, stringValue, stringValues, type ProtoField } from './protobuf-reader';
import { ProtoMessage } from './protobuf-writer';
import { quantizeBlocks4 } from './weight-quantizer-4bit';

/*
 * Load-time weight-only int8 quantization of an ONNX decoder, the way
 * llama.cpp's Q8_0 works: every MatMul whose right operand is a constant
 * float32 matrix (directly, or through a Transpose, as tied embeddings feed
 * the lm_head) becomes onnxruntime's com.microsoft MatMulNBits with 8-bit
 * weights in blocks of 32 along K, one float32 scale per block and the
 * default zero point 128 (symmetric). Activations stay float32; with
 * accuracy_level 4 onnxruntime runs the products in int8 (VNNI where the CPU
 * has it). A decode step reads about 1.1 bytes per weight instead of 4.
 *
 * The model is rewritten in memory: other nodes and fields are copied byte for
 * byte, and initializers kept in external data files are read and inlined,
 * because a session created from a buffer has no folder to resolve them in.
 */

const MODEL = { graph: 7, opsetImport: 8 } as const;
const GRAPH = { node: 1, initializer: 5 } as const;
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 } as const;
const ATTRIBUTE = { name: 1, ints: 8 } as const;
const TENSOR = {
  dims: 1,
  dataType: 2,
  floatData: 4,
  name: 8,
  rawData: 9,
  externalData: 13,
  dataLocation: 14,
} as const;
const MS_DOMAIN = 'com.microsoft';
/** Protobuf messages cannot exceed 2 GiB, so the rewritten model must fit in one. */
const MAX_MODEL_BYTES = 2 ** 31 - 1;

export const QUANT_BLOCK_SIZE = 32;

export class WeightQuantizationError extends Error {}

export interface QuantizedModel {
  /** The rewritten ModelProto, for InferenceSession.create(buffer). */
  model: Buffer;
  /** MatMuls now reading int8 weights. */
  quantizedMatMuls: number;
  /** Bytes of weights a decode step reads: int8 blocks and scales plus every float initializer left. */
  weightBytes: number;
}

interface Initializer {
  name: string;
  dataType: OnnxDataType;
  dims: number[];
  fields: ProtoField[];
  encoded: Buffer;
  external: boolean;
}

interface Node {
  fields: ProtoField[];
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  name: string;
}

function readInitializer(field: ProtoField): Initializer {
  const fields = parseProto(field.payload!);
  const location = fields.find((f) => f.field === TENSOR.dataLocation)?.varint;
  return {
    name: stringValue(fields, TENSOR.name) ?? '',
    dataType: Number(fields.find((f) => f.field === TENSOR.dataType)?.varint ?? 0n),
    dims: int64Values(fields, TENSOR.dims).map(Number),
    fields,
    encoded: field.encoded,
    external: location === 1n,
  };
}

function readNode(field: ProtoField): Node {
  const fields = parseProto(field.payload!);
  return {
    fields,
    opType: stringValue(fields, NODE.opType) ?? '',
    domain: stringValue(fields, NODE.domain) ?? '',
    inputs: stringValues(fields, NODE.input),
    outputs: stringValues(fields, NODE.output),
    name: stringValue(fields, NODE.name) ?? '',
  };
}

/** Transpose's `perm` attribute, if it has one. */
function transposePerm(node: Node): number[] | undefined {
  for (const field of node.fields) {
    if (field.field !== NODE.attribute || !field.payload) continue;
    const attribute = parseProto(field.payload);
    if (stringValue(attribute, ATTRIBUTE.name) === 'perm')
      return int64Values(attribute, ATTRIBUTE.ints).map(Number);
  }
  return undefined;
}

/** The raw little-endian bytes of an initializer, from the model, its float_data, or its external data file. */
function initializerBytes(tensor: Initializer, modelDir: string): Buffer {
  if (tensor.external) {
    const entries = new Map<string, string>();
    for (const field of tensor.fields) {
      if (field.field !== TENSOR.externalData || !field.payload) continue;
      const entry = parseProto(field.payload);
      entries.set(stringValue(entry, 1) ?? '', stringValue(entry, 2) ?? '');
    }
    const location = entries.get('location');
    if (!location || isAbsolute(location) || normalize(location).split(sep).includes('..')) {
      throw new WeightQuantizationError(
        `initializer ${tensor.name} has an invalid external data location "${location ?? ''}"`,
      );
    }
    const offset = Number(entries.get('offset') ?? '0');
    const length = Number(entries.get('length') ?? 'NaN');
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length)) {
      throw new WeightQuantizationError(
        `initializer ${tensor.name} has no valid external data offset and length`,
      );
    }
    const data = Buffer.allocUnsafe(length);
    const fd = openSync(join(modelDir, location), 'r');
    try {
      let read = 0;
      while (read < length) {
        const n = readSync(fd, data, read, Math.min(length - read, 1 << 30), offset + read);
        if (n === 0)
          throw new WeightQuantizationError(
            `external data file ${location} ends before initializer ${tensor.name}`,
          );
        read += n;
      }
    } finally {
      closeSync(fd);
    }
    return data;
  }
  const raw = tensor.fields.find((f) => f.field === TENSOR.rawData);
  if (raw?.payload) return raw.payload;
  const floats = tensor.fields.find((f) => f.field === TENSOR.floatData);
  if (floats?.payload) return floats.payload;
  // An empty tensor, or float_data written unpacked (one fixed32 field per value).
  const unpacked = tensor.fields.filter((f) => f.field === TENSOR.floatData && f.wireType === 5);
  return Buffer.concat(unpacked.map((f) => f.encoded.subarray(f.encoded.length - 4)));
}

function asFloat32(bytes: Buffer): Float32Array {
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  return new Float32Array(Uint8Array.from(bytes).buffer);
}

/**
 * Quantizes W (K x N, given by `at(k, n)` in row-major order or transposed)
 * into MatMulNBits' layout: q[n][block][j] for k = block * 32 + j, K padded
 * with zeros to whole blocks, and one scale per (n, block).
 */
export function quantizeBlocks(
  values: Float32Array,
  K: number,
  N: number,
  transposed: boolean,
): { q: Buffer; scales: Float32Array } {
  const blocks = Math.ceil(K / QUANT_BLOCK_SIZE);
  const q = Buffer.alloc(N * blocks * QUANT_BLOCK_SIZE, 128);
  const scales = new Float32Array(N * blocks);
  if (transposed) {
    // values is N x K: each output column's weights are contiguous.
    for (let n = 0; n < N; n++) {
      const row = n * K;
      for (let block = 0; block < blocks; block++) {
        const from = block * QUANT_BLOCK_SIZE;
        const to = Math.min(K, from + QUANT_BLOCK_SIZE);
        let max = 0;
        for (let k = from; k < to; k++) max = Math.max(max, Math.abs(values[row + k]));
        const scale = max / 127;
        scales[n * blocks + block] = scale;
        if (scale === 0) continue;
        const base = (n * blocks + block) * QUANT_BLOCK_SIZE - from;
        for (let k = from; k < to; k++) q[base + k] = 128 + Math.round(values[row + k] / scale);
      }
    }
  } else {
    // values is K x N: walk whole rows (contiguous) and keep a running maximum per column.
    const max = new Float32Array(N);
    for (let block = 0; block < blocks; block++) {
      const from = block * QUANT_BLOCK_SIZE;
      const to = Math.min(K, from + QUANT_BLOCK_SIZE);
      max.fill(0);
      for (let k = from; k < to; k++) {
        const row = k * N;
        for (let n = 0; n < N; n++) {
          const a = Math.abs(values[row + n]);
          if (a > max[n]) max[n] = a;
        }
      }
      for (let n = 0; n < N; n++) scales[n * blocks + block] = max[n] / 127;
      for (let k = from; k < to; k++) {
        const row = k * N;
        const j = k - from;
        for (let n = 0; n < N; n++) {
          const scale = scales[n * blocks + block];
          if (scale !== 0)
            q[(n * blocks + block) * QUANT_BLOCK_SIZE + j] = 128 + Math.round(values[row + n] / scale);
        }
      }
    }
  }
  return { q, scales };
}

/**
 * Rewrites the float32 ONNX model at `modelPath` with int8 weights for its
 * MatMuls (see the comment above); `bits` 4 writes 4-bit blocks instead
 * (weight-quantizer-4bit.ts), the precision of llama.cpp's Q4_0.
 */
export function quantizeModelWeightsInt8(modelPath: string, bits: 4 | 8 = 8): QuantizedModel {
  const modelDir = dirname(modelPath);
  const modelFields = parseProto(readFileSync(modelPath));
  const graphField = modelFields.find((f) => f.field === MODEL.graph && f.payload);
  if (!graphField) throw new WeightQuantizationError(`${modelPath} has no graph`);
  const graphFields = parseProto(graphField.payload!);

  const initializers = new Map<string, Initializer>();
  for (const field of graphFields) {
    if (field.field !== GRAPH.initializer) continue;
    const tensor = readInitializer(field);
    initializers.set(tensor.name, tensor);
  }
  const nodes = graphFields.filter((f) => f.field === GRAPH.node).map(readNode);
  const producers = new Map<string, Node>();
  const consumers = new Map<string, number>();
  for (const node of nodes) {
    for (const output of node.outputs) producers.set(output, node);
    for (const input of node.inputs) consumers.set(input, (consumers.get(input) ?? 0) + 1);
  }

  // Which constant float32 matrix each MatMul multiplies by, if any.
  const plans = new Map<Node, { source: Initializer; transposed: boolean; via?: Node }>();
  for (const node of nodes) {
    if (node.opType !== 'MatMul' || node.domain !== '' || node.inputs.length !== 2) continue;
    const direct = initializers.get(node.inputs[1]);
    // The block offsets of imported Q4_1/Q4_K weights (see gguf-quant.ts) are tiny and exact; they stay float.
    if (direct?.name.endsWith('.weight_block_offsets')) continue;
    if (direct) {
      if (direct.dataType === OnnxDataType.FLOAT && direct.dims.length === 2)
        plans.set(node, { source: direct, transposed: false });
      continue;
    }
    const transpose = producers.get(node.inputs[1]);
    if (transpose?.opType !== 'Transpose' || transpose.domain !== '') continue;
    const source = initializers.get(transpose.inputs[0]);
    const perm = transposePerm(transpose);
    if (
      source?.dataType === OnnxDataType.FLOAT &&
      source.dims.length === 2 &&
      (!perm || (perm[0] === 1 && perm[1] === 0))
    ) {
      plans.set(node, { source, transposed: true, via: transpose });
    }
  }
  if (plans.size === 0) {
    throw new WeightQuantizationError(
      `${modelPath} has no MatMul with constant float32 weights to quantize (int8 weights need a float32 model)`,
    );
  }

  // Quantize each source matrix once, however many MatMuls share it.
  const quantized = new Map<string, { q: string; scales: string; K: number; N: number }>();
  const added: ProtoMessage[] = [];
  const replaced = new Map<Node, ProtoMessage>();
  const removedUses = new Map<string, number>();
  for (const [node, plan] of plans) {
    const key = `${plan.source.name}${plan.transposed ? '^T' : ''}`;
    let entry = quantized.get(key);
    if (!entry) {
      const [rows, cols] = plan.source.dims;
      const K = plan.transposed ? cols : rows;
      const N = plan.transposed ? rows : cols;
      const values = asFloat32(initializerBytes(plan.source, modelDir));
      if (values.length !== K * N)
        throw new WeightQuantizationError(
          `initializer ${plan.source.name} holds ${values.length} values, not ${K} x ${N}`,
        );
      const { q, scales } =
        bits === 4
          ? quantizeBlocks4(values, K, N, plan.transposed)
          : quantizeBlocks(values, K, N, plan.transposed);
      const base = `${plan.source.name}${plan.transposed ? '_transposed' : ''}_int8`;
      entry = { q: base, scales: `${base}_scales`, K, N };
      const blocks = Math.ceil(K / QUANT_BLOCK_SIZE);
      added.push(
        encodeTensor({
          name: entry.q,
          dataType: OnnxDataType.UINT8,
          dims: [N, blocks, (QUANT_BLOCK_SIZE * bits) / 8],
          data: q,
        }),
      );
      added.push(
        encodeTensor({
          name: entry.scales,
          dataType: OnnxDataType.FLOAT,
          dims: [N * blocks],
          data: Buffer.from(scales.buffer, scales.byteOffset, scales.byteLength),
        }),
      );
      quantized.set(key, entry);
    }
    replaced.set(
      node,
      encodeNode({
        opType: 'MatMulNBits',
        domain: MS_DOMAIN,
        name: node.name || `${node.outputs[0]}_int8`,
        inputs: [node.inputs[0], entry.q, entry.scales],
        outputs: node.outputs,
        attributes: { K: entry.K, N: entry.N, bits, block_size: QUANT_BLOCK_SIZE, accuracy_level: 4 },
      }),
    );
    removedUses.set(node.inputs[1], (removedUses.get(node.inputs[1]) ?? 0) + 1);
  }
  // A Transpose left with no consumer is dropped, and so is a float matrix nobody reads any more.
  const droppedNodes = new Set<Node>();
  for (const plan of plans.values()) {
    if (
      plan.via &&
      (consumers.get(plan.via.outputs[0]) ?? 0) === (removedUses.get(plan.via.outputs[0]) ?? 0)
    ) {
      droppedNodes.add(plan.via);
      removedUses.set(plan.via.inputs[0], (removedUses.get(plan.via.inputs[0]) ?? 0) + 1);
    }
  }
  const droppedInitializers = new Set(
    [...initializers.keys()].filter(
      (name) => removedUses.has(name) && removedUses.get(name) === consumers.get(name),
    ),
  );

  const graph = new ProtoMessage();
  let nodeIndex = 0;
  let weightBytes = 0;
  for (const field of graphFields) {
    if (field.field === GRAPH.node) {
      const node = nodes[nodeIndex++];
      if (droppedNodes.has(node)) continue;
      const rewritten = replaced.get(node);
      if (rewritten) graph.message(GRAPH.node, rewritten);
      else graph.encoded(field.encoded);
    } else if (field.field === GRAPH.initializer) {
      const tensor = readInitializer(field);
      if (droppedInitializers.has(tensor.name)) continue;
      if (tensor.external) {
        const data = initializerBytes(tensor, modelDir);
        weightBytes += data.length;
        graph.message(
          GRAPH.initializer,
          encodeTensor({ name: tensor.name, dataType: tensor.dataType, dims: tensor.dims, data }),
        );
      } else {
        weightBytes += initializerBytes(tensor, modelDir).length;
        graph.encoded(field.encoded);
      }
    } else graph.encoded(field.encoded);
  }
  for (const tensor of added) {
    graph.message(GRAPH.initializer, tensor);
    weightBytes += tensor.byteLength;
  }

  const model = new ProtoMessage();
  let hasMsOpset = false;
  for (const field of modelFields) {
    if (field.field === MODEL.graph) model.message(MODEL.graph, graph);
    else {
      if (field.field === MODEL.opsetImport && stringValue(parseProto(field.payload!), 1) === MS_DOMAIN)
        hasMsOpset = true;
      model.encoded(field.encoded);
    }
  }
  if (!hasMsOpset) model.message(MODEL.opsetImport, new ProtoMessage().string(1, MS_DOMAIN).varint(2, 1));
  if (model.byteLength > MAX_MODEL_BYTES) {
    throw new WeightQuantizationError(
      `the int8 model would be ${(model.byteLength / 2 ** 30).toFixed(1)} GiB, over protobuf's 2 GiB limit for a model held in memory`,
    );
  }
  return { model: model.toBuffer(), quantizedMatMuls: plans.size, weightBytes };
}
