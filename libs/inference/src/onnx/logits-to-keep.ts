import { encodeNode, encodeTensor, OnnxDataType, valueInfo } from './onnx-builder';
import { parseProto, stringValue, stringValues } from './protobuf-reader';
import { ProtoMessage } from './protobuf-writer';

const MODEL = { graph: 7 } as const;
const GRAPH = { node: 1, initializer: 5, input: 11 } as const;
const NODE = { input: 1, output: 2 } as const;
const VALUE_INFO = { name: 1 } as const;

/** The graph input this rewrite adds: how many of the last positions get logits (the Hugging Face name). */
export const LOGITS_TO_KEEP_INPUT = 'logits_to_keep';
/** The final normalisation's weight in graphs built by llama-graph.ts (generated and GGUF-imported alike). */
const FINAL_NORM_WEIGHT = 'model.norm.weight';

/**
 * Teacher forcing checks the logits of the answer's positions only, yet a
 * decoder graph computes the lm_head (hidden × vocabulary, a fifth of
 * SmolLM2-135M's compute per token) for every position it is fed, the
 * prompt's included. This rewrite slices the final normalised hidden states
 * to their last `logits_to_keep` positions before the lm_head reads them,
 * with `logits_to_keep` a new int64 scalar input, as Hugging Face exports
 * name it (DecoderSession feeds it). Nothing else changes: the rewritten
 * model is the same bytes plus four nodes, three constants and one input.
 *
 * Returns undefined when the graph already has such an input or has no
 * node reading `model.norm.weight` (exports from elsewhere): the caller then
 * runs the model as it is.
 */
export function withLogitsToKeep(model: Buffer): Buffer | undefined {
  const modelFields = parseProto(model);
  const graphField = modelFields.find((f) => f.field === MODEL.graph && f.payload);
  if (!graphField) return undefined;
  const graphFields = parseProto(graphField.payload!);
  const inputNames = graphFields
    .filter((f) => f.field === GRAPH.input && f.payload)
    .map((f) => stringValue(parseProto(f.payload!), VALUE_INFO.name));
  if (inputNames.some((name) => name === 'logits_to_keep' || name === 'num_logits_to_keep')) return undefined;
  const normNodes = graphFields.filter(
    (f) =>
      f.field === GRAPH.node && stringValues(parseProto(f.payload!), NODE.input).includes(FINAL_NORM_WEIGHT),
  );
  if (normNodes.length !== 1) return undefined;
  const normFields = parseProto(normNodes[0].payload!);
  const outputs = stringValues(normFields, NODE.output);
  if (outputs.length !== 1) return undefined;
  const normed = outputs[0];
  const all = `${normed}/all_positions`;

  // The norm's node, its output renamed; a Slice then gives the old name the last positions only.
  const renamed = new ProtoMessage();
  for (const field of normFields)
    if (field.field === NODE.output) renamed.string(NODE.output, all);
    else renamed.encoded(field.encoded);
  const int64s = (name: string, values: bigint[]): ProtoMessage => {
    const data = Buffer.alloc(values.length * 8);
    values.forEach((value, index) => data.writeBigInt64LE(value, index * 8));
    return encodeTensor({ name, dataType: OnnxDataType.INT64, dims: [values.length], data });
  };
  const prefix = '/logits_to_keep';
  const added = [
    encodeNode({
      opType: 'Reshape',
      name: `${prefix}/reshape`,
      inputs: [LOGITS_TO_KEEP_INPUT, `${prefix}/one`],
      outputs: [`${prefix}/keep`],
      attributes: {},
    }),
    encodeNode({
      opType: 'Neg',
      name: `${prefix}/neg`,
      inputs: [`${prefix}/keep`],
      outputs: [`${prefix}/start`],
      attributes: {},
    }),
    encodeNode({
      opType: 'Slice',
      name: `${prefix}/slice`,
      inputs: [all, `${prefix}/start`, `${prefix}/end`, `${prefix}/axis`],
      outputs: [normed],
      attributes: {},
    }),
  ];

  const graph = new ProtoMessage();
  let inputsDone = false;
  for (const field of graphFields) {
    if (field === normNodes[0]) {
      graph.message(GRAPH.node, renamed);
      for (const node of added) graph.message(GRAPH.node, node);
    } else graph.encoded(field.encoded);
    if (field.field === GRAPH.input && !inputsDone) {
      graph.message(GRAPH.input, valueInfo(LOGITS_TO_KEEP_INPUT, OnnxDataType.INT64, []));
      inputsDone = true;
    }
  }
  graph.message(GRAPH.initializer, int64s(`${prefix}/one`, [1n]));
  // Slice clamps an end past the sequence to its length.
  graph.message(GRAPH.initializer, int64s(`${prefix}/end`, [2n ** 62n]));
  graph.message(GRAPH.initializer, int64s(`${prefix}/axis`, [1n]));
  if (!inputsDone) return undefined;

  const out = new ProtoMessage();
  for (const field of modelFields)
    if (field === graphField) out.message(MODEL.graph, graph);
    else out.encoded(field.encoded);
  return out.toBuffer();
}
