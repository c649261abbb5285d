import { float32ToFloat16Bits, OnnxDataType, OnnxGraphBuilder, type OnnxTensor } from '../onnx/onnx-builder';
import { Xoshiro128 } from './prng';

export interface LlamaArchitecture {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
  vocabSize: number;
  maxPositions: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  dtype: 'fp32' | 'fp16';
  /**
   * Token ids from here on are reserved placeholders. Their embedding and
   * output rows are zero, like the untrained reserved tokens of Llama 3, so
   * the model practically never produces them.
   */
  reservedFrom?: number;
  /**
   * Tokens whose embedding and output rows are scaled down so that the random
   * model rarely emits them (lone UTF-8 bytes and control characters), which
   * keeps its output readable word salad instead of replacement characters.
   */
  quietIds?: readonly number[];
  /**
   * Declare the `use_cache_branch` input of Optimum's merged decoders. This
   * graph treats an empty past as "no cache", so one branch serves both and
   * the flag only has to be accepted.
   */
  mergedDecoderInputs?: boolean;
}

/**
 * Builds a Llama decoder with the input and output contract of an Optimum
 * "text-generation-with-past" export: input_ids, attention_mask, position_ids
 * and past_key_values.N.key|value in; logits and present.N.key|value out.
 *
 * Internally the graph fuses the q/k/v and gate/up projections into single
 * MatMuls and computes grouped-query attention by folding the query-group
 * axis into the sequence axis, so key/value heads are never copied.
 */
export function buildLlamaGraph(arch: LlamaArchitecture, seed: number): OnnxGraphBuilder {
  const g = new OnnxGraphBuilder('main_graph');
  const headDim = arch.hiddenSize / arch.numHeads;
  const groups = arch.numHeads / arch.numKvHeads;
  const T = arch.dtype === 'fp16' ? OnnxDataType.FLOAT16 : OnnxDataType.FLOAT;
  const rng = new Xoshiro128(seed);
  const weight = (name: string, dims: number[], limit: number): string =>
    g.initializer(toTensor(name, dims, arch.dtype, (data) => rng.fillUniform(data, limit)));
  const ones = (name: string, size: number): string => g.initializer(toTensor(name, [size], arch.dtype, (data) => data.fill(1)));
  // Uniform(-a, a) has standard deviation a / sqrt(3).
  const limitForStd = (std: number): number => std * Math.sqrt(3);

  const inputIds = g.input('input_ids', OnnxDataType.INT64, ['batch_size', 'sequence_length']);
  const attentionMask = g.input('attention_mask', OnnxDataType.INT64, ['batch_size', 'total_sequence_length']);
  const positionIds = g.input('position_ids', OnnxDataType.INT64, ['batch_size', 'sequence_length']);
  if (arch.mergedDecoderInputs) g.input('use_cache_branch', OnnxDataType.BOOL, [1]);
  const pastKeys: string[] = [];
  const pastValues: string[] = [];
  for (let layer = 0; layer < arch.numLayers; layer++) {
    pastKeys.push(g.input(`past_key_values.${layer}.key`, T, ['batch_size', arch.numKvHeads, 'past_sequence_length', headDim]));
    pastValues.push(g.input(`past_key_values.${layer}.value`, T, ['batch_size', arch.numKvHeads, 'past_sequence_length', headDim]));
  }
  g.output('logits', T, ['batch_size', 'sequence_length', arch.vocabSize]);
  for (let layer = 0; layer < arch.numLayers; layer++) {
    g.output(`present.${layer}.key`, T, ['batch_size', arch.numKvHeads, 'total_sequence_length', headDim]);
    g.output(`present.${layer}.value`, T, ['batch_size', arch.numKvHeads, 'total_sequence_length', headDim]);
  }

  // A large logit scale on random weights keeps the next-token distribution
  // peaked, so generations vary with the context instead of being uniform noise.
  const embedStd = arch.tieWordEmbeddings ? 4 / Math.sqrt(arch.hiddenSize) : 1;
  const reservedFrom = arch.reservedFrom ?? arch.vocabSize;
  const embed = g.initializer(
    toTensor('model.embed_tokens.weight', [arch.vocabSize, arch.hiddenSize], arch.dtype, (data) => {
      rng.fillUniform(data, limitForStd(embedStd));
      data.fill(0, reservedFrom * arch.hiddenSize);
      if (arch.tieWordEmbeddings) for (const id of arch.quietIds ?? []) scale(data.subarray(id * arch.hiddenSize, (id + 1) * arch.hiddenSize), QUIET_SCALE);
    }),
  );

  // Rotary tables, gathered by position_ids. Rotating by half (as Hugging Face's
  // Llama does) is x * cos + concat(x2, x1) * sinSigned with sinSigned = [-sin, sin].
  const half = headDim / 2;
  const cosTable = new Float32Array(arch.maxPositions * headDim);
  const sinTable = new Float32Array(arch.maxPositions * headDim);
  for (let position = 0; position < arch.maxPositions; position++) {
    for (let i = 0; i < half; i++) {
      const angle = position / arch.ropeTheta ** ((2 * i) / headDim);
      const base = position * headDim;
      cosTable[base + i] = cosTable[base + half + i] = Math.cos(angle);
      sinTable[base + i] = -Math.sin(angle);
      sinTable[base + half + i] = Math.sin(angle);
    }
  }
  const cosInit = g.initializer(toTensor('rotary.cos_cached', [arch.maxPositions, headDim], arch.dtype, (data) => data.set(cosTable)));
  const sinInit = g.initializer(toTensor('rotary.sin_cached', [arch.maxPositions, headDim], arch.dtype, (data) => data.set(sinTable)));
  const axis1 = g.int64s('/const/axes_1', [1]);
  const cos = g.op('Unsqueeze', [g.op('Gather', [cosInit, positionIds]), axis1]);
  const sin = g.op('Unsqueeze', [g.op('Gather', [sinInit, positionIds]), axis1]);

  // Additive attention bias [batch, 1, groups * seq, total]: a query row may
  // see key j when j <= its own absolute position and attention_mask[j] == 1.
  // Rows are repeated per query group because attention runs on the
  // [batch, kv_heads, groups * seq, head_dim] layout.
  const zero = g.int64s('/const/zero', [0], []);
  const one = g.int64s('/const/one', [1], []);
  const seqLen = g.op('Gather', [g.op('Shape', [inputIds]), one], { axis: 0 });
  const totalLen = g.op('Gather', [g.op('Shape', [attentionMask]), one], { axis: 0 });
  const keyIndex = g.op('Unsqueeze', [g.op('Range', [zero, totalLen, one]), g.int64s('/const/axes_0', [0])]);
  const queryIndex = g.op('Range', [g.op('Sub', [totalLen, seqLen]), totalLen, one]);
  const queryRows = g.op('Unsqueeze', [g.op('Tile', [queryIndex, g.int64s('/const/groups', [groups])]), axis1]);
  const causal = g.op('LessOrEqual', [keyIndex, queryRows]);
  const padding = g.op('Unsqueeze', [g.op('Cast', [attentionMask], { to: OnnxDataType.BOOL }), g.int64s('/const/axes_1_2', [1, 2])]);
  const allowed = g.op('And', [causal, padding]);
  const maskValue = arch.dtype === 'fp16' ? -32768 : -3.4028234663852886e38;
  const attentionBias = g.op('Where', [allowed, g.scalar('/const/bias_zero', 0, T), g.scalar('/const/bias_min', maskValue, T)]);

  const qSize = arch.numHeads * headDim;
  const kvSize = arch.numKvHeads * headDim;
  const qkvSplit = g.int64s('/const/qkv_split', [qSize, kvSize, kvSize]);
  const halfSplit = g.int64s('/const/half_split', [half, half]);
  const mlpSplit = g.int64s('/const/mlp_split', [arch.intermediateSize, arch.intermediateSize]);
  const headsShape = (heads: number): string => g.int64s(`/const/shape_heads_${heads}`, [0, 0, heads, headDim]);
  const qShape = headsShape(arch.numHeads);
  const kvShape = arch.numKvHeads === arch.numHeads ? qShape : headsShape(arch.numKvHeads);
  const groupedShape = g.int64s('/const/grouped_shape', [0, arch.numKvHeads, -1, headDim]);
  const ungroupedShape = g.int64s('/const/ungrouped_shape', [0, arch.numHeads, -1, headDim]);
  const mergedShape = g.int64s('/const/merged_shape', [0, 0, qSize]);
  const queryScale = g.scalar('/const/query_scale', 1 / Math.sqrt(headDim), T);
  const rmsEps = g.scalar('/const/rms_eps', arch.rmsNormEps, OnnxDataType.FLOAT);
  const two = g.scalar('/const/two', 2, OnnxDataType.FLOAT);

  const rmsNorm = (x: string, scale: string): string => {
    // Computed in float32 even for fp16 models, as Hugging Face's LlamaRMSNorm
    // does; the Pow/ReduceMean/Add/Sqrt/Div chain is what onnxruntime fuses
    // into SimplifiedLayerNormalization.
    const input = T === OnnxDataType.FLOAT ? x : g.op('Cast', [x], { to: OnnxDataType.FLOAT });
    const meanSquare = g.op('ReduceMean', [g.op('Pow', [input, two])], { axes: [-1], keepdims: 1 });
    const normalized = g.op('Div', [input, g.op('Sqrt', [g.op('Add', [meanSquare, rmsEps])])]);
    const back = T === OnnxDataType.FLOAT ? normalized : g.op('Cast', [normalized], { to: T });
    return g.op('Mul', [back, scale]);
  };
  const rotate = (x: string): string => {
    const [x1, x2] = g.node('Split', [x, halfSplit], { axis: -1 }, 2);
    const swapped = g.op('Concat', [x2, x1], { axis: -1 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [swapped, sin])]);
  };
  const toHeads = (x: string, shape: string): string => g.op('Transpose', [g.op('Reshape', [x, shape])], { perm: [0, 2, 1, 3] });

  const projStd = 1 / Math.sqrt(arch.hiddenSize);
  let hidden = g.op('Gather', [embed, inputIds]);
  for (let layer = 0; layer < arch.numLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    const normed = rmsNorm(hidden, ones(`${prefix}.input_layernorm.weight`, arch.hiddenSize));
    const qkvWeight = weight(`${prefix}.self_attn.qkv_proj.weight`, [arch.hiddenSize, qSize + 2 * kvSize], limitForStd(projStd));
    const [q, k, v] = g.node('Split', [g.op('MatMul', [normed, qkvWeight]), qkvSplit], { axis: -1 }, 3);
    const query = rotate(toHeads(g.op('Mul', [q, queryScale]), qShape));
    const key = rotate(toHeads(k, kvShape));
    const value = toHeads(v, kvShape);
    const presentKey = g.op('Concat', [pastKeys[layer], key], { axis: 2 }, `present.${layer}.key`);
    const presentValue = g.op('Concat', [pastValues[layer], value], { axis: 2 }, `present.${layer}.value`);

    const groupedQuery = g.op('Reshape', [query, groupedShape]);
    const scores = g.op('MatMul', [groupedQuery, g.op('Transpose', [presentKey], { perm: [0, 1, 3, 2] })]);
    const probs = g.op('Softmax', [g.op('Add', [scores, attentionBias])], { axis: -1 });
    const context = g.op('Reshape', [g.op('MatMul', [probs, presentValue]), ungroupedShape]);
    const merged = g.op('Reshape', [g.op('Transpose', [context], { perm: [0, 2, 1, 3] }), mergedShape]);
    const oWeight = weight(`${prefix}.self_attn.o_proj.weight`, [qSize, arch.hiddenSize], limitForStd(1 / Math.sqrt(qSize)));
    hidden = g.op('Add', [hidden, g.op('MatMul', [merged, oWeight])]);

    const postNormed = rmsNorm(hidden, ones(`${prefix}.post_attention_layernorm.weight`, arch.hiddenSize));
    const gateUpWeight = weight(`${prefix}.mlp.gate_up_proj.weight`, [arch.hiddenSize, 2 * arch.intermediateSize], limitForStd(projStd));
    const [gate, up] = g.node('Split', [g.op('MatMul', [postNormed, gateUpWeight]), mlpSplit], { axis: -1 }, 2);
    const activated = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    const downWeight = weight(`${prefix}.mlp.down_proj.weight`, [arch.intermediateSize, arch.hiddenSize], limitForStd(1 / Math.sqrt(arch.intermediateSize)));
    hidden = g.op('Add', [hidden, g.op('MatMul', [activated, downWeight])]);
  }
  const finalNormed = rmsNorm(hidden, ones('model.norm.weight', arch.hiddenSize));
  const lmHead = arch.tieWordEmbeddings
    ? g.op('Transpose', [embed], { perm: [1, 0] })
    : g.initializer(
        toTensor('lm_head.weight', [arch.hiddenSize, arch.vocabSize], arch.dtype, (data) => {
          rng.fillUniform(data, limitForStd(4 / Math.sqrt(arch.hiddenSize)));
          for (let row = 0; row < arch.hiddenSize; row++) {
            data.fill(0, row * arch.vocabSize + reservedFrom, (row + 1) * arch.vocabSize);
            for (const id of arch.quietIds ?? []) data[row * arch.vocabSize + id] *= QUIET_SCALE;
          }
        }),
      );
  g.op('MatMul', [finalNormed, lmHead], {}, 'logits');
  return g;
}

const QUIET_SCALE = 0.1;

function scale(values: Float32Array, factor: number): void {
  for (let i = 0; i < values.length; i++) values[i] *= factor;
}

function toTensor(name: string, dims: number[], dtype: 'fp32' | 'fp16', fill: (data: Float32Array) => void): OnnxTensor {
  const count = dims.reduce((a, b) => a * b, 1);
  const values = new Float32Array(count);
  fill(values);
  if (dtype === 'fp32') return { name, dims, dataType: OnnxDataType.FLOAT, data: Buffer.from(values.buffer, values.byteOffset, values.byteLength) };
  const halves = new Uint16Array(count);
  for (let index = 0; index < count; index++) halves[index] = float32ToFloat16Bits(values[index]);
  return { name, dims, dataType: OnnxDataType.FLOAT16, data: Buffer.from(halves.buffer, halves.byteOffset, halves.byteLength) };
}
