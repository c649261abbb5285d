import { float32ToFloat16Bits, OnnxDataType, OnnxGraphBuilder, type OnnxTensor } from '../onnx/onnx-builder';
import type { LinearWeight, NBitsLinear } from '../gguf/gguf-quant';
import { blockIndicator, exactRotaryAngles, ggmlRotaryAngles, roundToHalf, type GgmlNumerics } from './ggml-numerics';
import { Xoshiro128 } from './prng';

/**
 * Real weights for the graph (an imported GGUF model, say) instead of the
 * seeded random ones. Names are Hugging Face's: `model.layers.0.self_attn.q_proj`,
 * `model.layers.0.input_layernorm`, `model.norm`, ...
 */
export interface LlamaWeights {
  /** The token embedding, [vocab][hidden]. */
  embedding(): Float32Array;
  /**
   * The token embedding in 8-bit blocks without offsets (Q8_0), when it has
   * that form: the graph then reads it with GatherBlockQuantized instead of a
   * float32 table four times its size.
   */
  quantizedEmbedding?(): NBitsLinear | undefined;
  /** An RMSNorm's scale vector. */
  norm(name: string): Float32Array;
  /** A Linear layer's weight: N output rows of K inputs, float or in MatMulNBits' layout. */
  linear(name: string, K: number, N: number): LinearWeight;
  /** The output head when it is not the float embedding transposed (untied, or tied but kept quantized). */
  lmHead(): LinearWeight | undefined;
}

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
  /**
   * MatMulNBits' accuracy_level for imported quantized weights: 4 quantizes
   * the activations to int8 blocks (as llama.cpp does), 1 keeps them float32.
   */
  nbitsAccuracyLevel?: number;
  /**
   * Build attention, rotary embeddings and the residual RMSNorms from
   * onnxruntime's fused kernels (ONNX Attention and RotaryEmbedding of opset
   * 23, SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization) instead
   * of ~25 elementwise nodes per layer, and declare Optimum's
   * `num_logits_to_keep` input so a prefill computes only the logits it needs.
   * The inputs, outputs and cache layout stay Optimum's, plus one output,
   * NEW_KEY_VALUES, that lets a caller keep the cache itself. float32 only;
   * the graph needs opset LLAMA_FUSED_OPSET (see llamaGraphOpset).
   */
  fusedOps?: boolean;
  /** Which of llama.cpp's CPU roundings the graph reproduces (GGUF imports); none by default. */
  ggml?: GgmlNumerics;
}

/**
 * Output of fused graphs: the keys and values of the positions fed in this
 * call only, [batch, sequence, layers * 2 * kv_heads * head_dim], per position
 * layer 0's key heads, layer 0's value heads, layer 1's key heads, ... (keys
 * after the rotary embedding, as the cache holds them). A caller that keeps
 * the cache itself fetches this instead of every layer's whole present.N.*,
 * which saves copying the cache out of onnxruntime at every step. The graph's
 * attention honours any attention_mask, holes included, so such a caller can
 * feed a cache with free slots (masked) after each row's tokens.
 */
export const NEW_KEY_VALUES = 'new_key_values';

/** The opset fused graphs are built for: ONNX Attention and RotaryEmbedding start at 23. */
export const LLAMA_FUSED_OPSET = 23;

/** The opset a graph built by buildLlamaGraph for `arch` must be serialised with. */
export function llamaGraphOpset(arch: LlamaArchitecture): number {
  return arch.fusedOps ? LLAMA_FUSED_OPSET : 17;
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
export function buildLlamaGraph(arch: LlamaArchitecture, seed: number, weights?: LlamaWeights): OnnxGraphBuilder {
  if (weights && arch.dtype !== 'fp32') throw new RangeError('imported weights are built into float32 graphs');
  if (arch.fusedOps && arch.dtype !== 'fp32') throw new RangeError('fused operators are built into float32 graphs');
  const fused = arch.fusedOps === true;
  const g = new OnnxGraphBuilder('main_graph');
  const headDim = arch.hiddenSize / arch.numHeads;
  const groups = arch.numHeads / arch.numKvHeads;
  const T = arch.dtype === 'fp16' ? OnnxDataType.FLOAT16 : OnnxDataType.FLOAT;
  const rng = new Xoshiro128(seed);
  const weight = (name: string, dims: number[], limit: number): string =>
    g.initializer(toTensor(name, dims, arch.dtype, (data) => rng.fillUniform(data, limit)));
  const ones = (name: string, size: number): string =>
    g.initializer(toTensor(name, [size], arch.dtype, (data) => (weights ? data.set(checkedLength(weights.norm(name.replace(/\.weight$/, '')), size, name)) : data.fill(1))));
  // Uniform(-a, a) has standard deviation a / sqrt(3).
  const limitForStd = (std: number): number => std * Math.sqrt(3);

  const inputIds = g.input('input_ids', OnnxDataType.INT64, ['batch_size', 'sequence_length']);
  const attentionMask = g.input('attention_mask', OnnxDataType.INT64, ['batch_size', 'total_sequence_length']);
  const positionIds = g.input('position_ids', OnnxDataType.INT64, ['batch_size', 'sequence_length']);
  if (arch.mergedDecoderInputs) g.input('use_cache_branch', OnnxDataType.BOOL, [1]);
  const logitsToKeep = fused ? g.input('num_logits_to_keep', OnnxDataType.INT64, []) : undefined;
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
  if (fused) g.output(NEW_KEY_VALUES, T, ['batch_size', 'sequence_length', 2 * arch.numLayers * arch.numKvHeads * headDim]);

  // A large logit scale on random weights keeps the next-token distribution
  // peaked, so generations vary with the context instead of being uniform noise.
  const embedStd = arch.tieWordEmbeddings ? 4 / Math.sqrt(arch.hiddenSize) : 1;
  const reservedFrom = arch.reservedFrom ?? arch.vocabSize;
  const quantizedEmbed = weights?.quantizedEmbedding?.();
  const embed = quantizedEmbed
    ? ''
    : g.initializer(
        toTensor('model.embed_tokens.weight', [arch.vocabSize, arch.hiddenSize], arch.dtype, (data) => {
          if (weights) return data.set(checkedLength(weights.embedding(), data.length, 'model.embed_tokens.weight'));
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
  const angles = (arch.ggml?.rotary ? ggmlRotaryAngles : exactRotaryAngles)(arch.maxPositions, headDim, arch.ropeTheta);
  for (let position = 0; position < arch.maxPositions; position++) {
    for (let i = 0; i < half; i++) {
      const angle = angles[position * half + i];
      const base = position * headDim;
      cosTable[base + i] = cosTable[base + half + i] = Math.cos(angle);
      sinTable[base + i] = -Math.sin(angle);
      sinTable[base + half + i] = Math.sin(angle);
    }
  }
  const axis1 = g.int64s('/const/axes_1', [1]);
  let cos = '';
  let sin = '';
  if (!fused) {
    const cosInit = g.initializer(toTensor('rotary.cos_cached', [arch.maxPositions, headDim], arch.dtype, (data) => data.set(cosTable)));
    const sinInit = g.initializer(toTensor('rotary.sin_cached', [arch.maxPositions, headDim], arch.dtype, (data) => data.set(sinTable)));
    cos = g.op('Unsqueeze', [g.op('Gather', [cosInit, positionIds]), axis1]);
    sin = g.op('Unsqueeze', [g.op('Gather', [sinInit, positionIds]), axis1]);
  }

  // Additive attention bias [batch, 1, groups * seq, total]: a query row may
  // see key j when j <= its own absolute position and attention_mask[j] == 1.
  // Rows are repeated per query group because attention runs on the
  // [batch, kv_heads, groups * seq, head_dim] layout; the fused Attention
  // kernel takes [batch, 1, seq, total] and broadcasts it over the heads.
  const zero = g.int64s('/const/zero', [0], []);
  const one = g.int64s('/const/one', [1], []);
  const seqLen = g.op('Gather', [g.op('Shape', [inputIds]), one], { axis: 0 });
  const totalLen = g.op('Gather', [g.op('Shape', [attentionMask]), one], { axis: 0 });
  const keyIndex = g.op('Unsqueeze', [g.op('Range', [zero, totalLen, one]), g.int64s('/const/axes_0', [0])]);
  const queryIndex = g.op('Range', [g.op('Sub', [totalLen, seqLen]), totalLen, one]);
  const queryRows = g.op('Unsqueeze', [fused ? queryIndex : g.op('Tile', [queryIndex, g.int64s('/const/groups', [groups])]), axis1]);
  const causal = g.op('LessOrEqual', [keyIndex, queryRows]);
  const padding = g.op('Unsqueeze', [g.op('Cast', [attentionMask], { to: OnnxDataType.BOOL }), g.int64s('/const/axes_1_2', [1, 2])]);
  const allowed = g.op('And', [causal, padding]);
  const maskValue = arch.dtype === 'fp16' ? -32768 : -3.4028234663852886e38;
  const attentionBias = g.op('Where', [allowed, g.scalar('/const/bias_zero', 0, T), g.scalar('/const/bias_min', maskValue, T)]);

  const qSize = arch.numHeads * headDim;
  const kvSize = arch.numKvHeads * headDim;
  const qkvSplit = fused ? '' : g.int64s('/const/qkv_split', [qSize, kvSize, kvSize]);
  const halfSplit = fused ? '' : g.int64s('/const/half_split', [half, half]);
  const mlpSplit = fused ? '' : g.int64s('/const/mlp_split', [arch.intermediateSize, arch.intermediateSize]);
  const headsShape = (heads: number): string => g.int64s(`/const/shape_heads_${heads}`, [0, 0, heads, headDim]);
  const qShape = fused ? '' : headsShape(arch.numHeads);
  const kvShape = arch.numKvHeads === arch.numHeads || fused ? qShape : headsShape(arch.numKvHeads);
  const groupedShape = fused ? '' : g.int64s('/const/grouped_shape', [0, arch.numKvHeads, -1, headDim]);
  const ungroupedShape = fused ? '' : g.int64s('/const/ungrouped_shape', [0, arch.numHeads, -1, headDim]);
  const mergedShape = fused ? '' : g.int64s('/const/merged_shape', [0, 0, qSize]);
  const queryScale = fused ? '' : g.scalar('/const/query_scale', 1 / Math.sqrt(headDim), T);
  const rmsEps = fused ? '' : g.scalar('/const/rms_eps', arch.rmsNormEps, OnnxDataType.FLOAT);
  const two = fused ? '' : g.scalar('/const/two', 2, OnnxDataType.FLOAT);

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
  let axesLast: string | undefined;
  const blockShapes = new Map<string, string>();
  const blockOnes = new Map<string, string>();
  const indicators = new Map<string, { q: string; scales: string; zeroPoints: string }>();
  /**
   * The per-block sums of x, [.., K / blockSize]. Where llama.cpp's rounding
   * is asked for, they are the sums of x's int8 blocks as MatMulNBits
   * quantizes them (a block-indicator MatMulNBits), as ggml's Q8_1 blocks
   * carry them for the Q4_1 minimum. Otherwise float32 sums: `flat` (x is
   * 2-D [rows, K]) as one MatMul with a 0/1 [K, K/bs] matrix, else Reshape
   * and ReduceSum.
   */
  const blockSums = (x: string, blocks: number, blockSize: number, flat: boolean): string => {
    const key = `${blocks}x${blockSize}`;
    if (arch.ggml?.quantizedBlockSums && (arch.nbitsAccuracyLevel ?? 4) === 4) {
      let indicator = indicators.get(key);
      if (!indicator) {
        const w = blockIndicator(blocks * blockSize, blockSize);
        indicator = {
          q: g.initializer({ name: `/const/block_indicator_${key}_q4`, dataType: OnnxDataType.UINT8, dims: [blocks, blocks, blockSize / 2], data: w.data }),
          scales: g.initializer(floatTensor(`/const/block_indicator_${key}_scales`, [blocks * blocks], w.scales)),
          zeroPoints: g.initializer({ name: `/const/block_indicator_${key}_zero_points`, dataType: OnnxDataType.UINT8, dims: [w.zeroPoints.length], data: w.zeroPoints }),
        };
        indicators.set(key, indicator);
      }
      return g.msOp('MatMulNBits', [x, indicator.q, indicator.scales, indicator.zeroPoints], { K: blocks * blockSize, N: blocks, bits: 4, block_size: blockSize, accuracy_level: 4 });
    }
    if (flat) {
      let ones = blockOnes.get(key);
      if (!ones) {
        const K = blocks * blockSize;
        const indicator = new Float32Array(K * blocks);
        for (let k = 0; k < K; k++) indicator[k * blocks + Math.floor(k / blockSize)] = 1;
        blockOnes.set(key, (ones = g.initializer(floatTensor(`/const/block_ones_${key}`, [K, blocks], indicator))));
      }
      return g.op('MatMul', [x, ones]);
    }
    let shape = blockShapes.get(key);
    if (!shape) blockShapes.set(key, (shape = g.int64s(`/const/blocks_${key}`, [0, 0, blocks, blockSize])));
    axesLast ??= g.int64s('/const/axes_last', [-1]);
    return g.op('ReduceSum', [g.op('Reshape', [x, shape]), axesLast], { keepdims: 0 });
  };
  /**
   * x times a Linear layer's weight, as MatMul (float) or MatMulNBits plus its
   * block offsets, sum over each block of x times the block's offset
   * ([.., K/bs] x [K/bs, N]). `flat`: x is 2-D [rows, K], and the offsets are
   * added by one Gemm onto MatMulNBits' output.
   */
  const linearOp = (x: string, w: LinearWeight, name: string, flat = false): string => {
    if (w.kind === 'float') {
      const values = new Float32Array(w.K * w.N);
      for (let n = 0; n < w.N; n++) for (let k = 0; k < w.K; k++) values[k * w.N + n] = w.rows[n * w.K + k];
      return g.op('MatMul', [x, g.initializer(floatTensor(`${name}.weight`, [w.K, w.N], values))]);
    }
    const blocks = w.K / w.blockSize;
    const q = g.initializer({ name: `${name}.weight_q${w.bits}`, dataType: OnnxDataType.UINT8, dims: [w.N, blocks, (w.blockSize * w.bits) / 8], data: w.data });
    const scales = g.initializer(floatTensor(`${name}.weight_scales`, [w.N * blocks], w.scales));
    let y = g.msOp('MatMulNBits', [x, q, scales], { K: w.K, N: w.N, bits: w.bits, block_size: w.blockSize, accuracy_level: arch.nbitsAccuracyLevel ?? 4 });
    if (w.offsets && flat) {
      const offsets = new Float32Array(blocks * w.N);
      for (let n = 0; n < w.N; n++) for (let b = 0; b < blocks; b++) offsets[b * w.N + n] = w.offsets[n * blocks + b];
      return g.op('Gemm', [blockSums(x, blocks, w.blockSize, true), g.initializer(floatTensor(`${name}.weight_block_offsets`, [blocks, w.N], offsets)), y]);
    }
    if (w.offsets) {
      const sums = blockSums(x, blocks, w.blockSize, false);
      const offsets = new Float32Array(blocks * w.N);
      for (let n = 0; n < w.N; n++) for (let b = 0; b < blocks; b++) offsets[b * w.N + n] = w.offsets[n * blocks + b];
      y = g.op('Add', [y, g.op('MatMul', [sums, g.initializer(floatTensor(`${name}.weight_block_offsets`, [blocks, w.N], offsets))])]);
    }
    return y;
  };
  /**
   * x times the concatenation (along N) of Linear layers `parts`: one MatMul
   * over a fused matrix, named `fused`. Random weights are drawn for the fused
   * matrix at once; imported ones are fused when they share a format.
   */
  const project = (x: string, prefix: string, fused: string, parts: { name: string; N: number }[], K: number, limit: number, flat = false): string => {
    if (!weights) return g.op('MatMul', [x, weight(`${prefix}.${fused}.weight`, [K, parts.reduce((sum, part) => sum + part.N, 0)], limit)]);
    const loaded = parts.map((part) => checkedShape(weights.linear(`${prefix}.${part.name}`, K, part.N), K, part.N, `${prefix}.${part.name}`));
    const merged = fuseLinear(loaded);
    if (merged) return linearOp(x, merged, `${prefix}.${fused}`, flat);
    return g.op('Concat', loaded.map((w, index) => linearOp(x, w, `${prefix}.${parts[index].name}`, flat)), { axis: -1 });
  };
  let hidden: string;
  if (quantizedEmbed) {
    const w = checkedShape(quantizedEmbed, arch.hiddenSize, arch.vocabSize, 'model.embed_tokens') as NBitsLinear;
    if (w.bits !== 8 || w.offsets) throw new RangeError('a quantized embedding must be 8-bit blocks without offsets');
    const blocks = w.K / w.blockSize;
    // MatMulNBits' [N][blocks][blockSize] bytes are the [vocab][hidden] table GatherBlockQuantized reads.
    const table = g.initializer({ name: 'model.embed_tokens.weight_q8', dataType: OnnxDataType.UINT8, dims: [w.N, w.K], data: w.data });
    const scales = g.initializer(floatTensor('model.embed_tokens.weight_scales', [w.N, blocks], w.scales));
    const zeroPoints = g.initializer({ name: 'model.embed_tokens.weight_zero_points', dataType: OnnxDataType.UINT8, dims: [w.N, blocks], data: Buffer.alloc(w.N * blocks, 128) });
    hidden = g.msOp('GatherBlockQuantized', [table, inputIds, scales, zeroPoints], { gather_axis: 0, quantize_axis: 1, block_size: w.blockSize, bits: 8 });
  } else hidden = g.op('Gather', [embed, inputIds]);
  let finalNormed = '';
  if (fused) {
    finalNormed = fusedLayers({
      g,
      arch,
      hidden,
      positionIds,
      shape3d: g.op('Concat', [g.op('Shape', [inputIds]), g.int64s('/const/minus_one', [-1])], { axis: 0 }),
      attentionBias,
      pastKeys,
      pastValues,
      cosTable,
      sinTable,
      gamma: (name) => ones(name, arch.hiddenSize),
      project,
      limits: { qkv: limitForStd(projStd), o: limitForStd(1 / Math.sqrt(qSize)), gateUp: limitForStd(projStd), down: limitForStd(1 / Math.sqrt(arch.intermediateSize)) },
    });
    // Optimum's num_logits_to_keep: only the last n positions go through the output head.
    const keep = g.op('Neg', [g.op('Reshape', [logitsToKeep!, g.int64s('/const/shape_1', [1])])]);
    finalNormed = g.op('Slice', [finalNormed, keep, g.int64s('/const/slice_end', [Number.MAX_SAFE_INTEGER]), axis1]);
  }
  for (let layer = 0; layer < (fused ? 0 : arch.numLayers); layer++) {
    const prefix = `model.layers.${layer}`;
    const normed = rmsNorm(hidden, ones(`${prefix}.input_layernorm.weight`, arch.hiddenSize));
    const qkv = project(normed, prefix, 'self_attn.qkv_proj', [{ name: 'self_attn.q_proj', N: qSize }, { name: 'self_attn.k_proj', N: kvSize }, { name: 'self_attn.v_proj', N: kvSize }], arch.hiddenSize, limitForStd(projStd));
    const [q, k, v] = g.node('Split', [qkv, qkvSplit], { axis: -1 }, 3);
    const half16 = (x: string): string => (arch.ggml?.halfAttention ? roundToHalf(g, x) : x);
    const query = half16(rotate(toHeads(g.op('Mul', [q, queryScale]), qShape)));
    const key = half16(rotate(toHeads(k, kvShape)));
    const value = toHeads(half16(v), kvShape);
    const presentKey = g.op('Concat', [pastKeys[layer], key], { axis: 2 }, `present.${layer}.key`);
    const presentValue = g.op('Concat', [pastValues[layer], value], { axis: 2 }, `present.${layer}.value`);

    const groupedQuery = g.op('Reshape', [query, groupedShape]);
    const scores = g.op('MatMul', [groupedQuery, g.op('Transpose', [presentKey], { perm: [0, 1, 3, 2] })]);
    const probs = half16(g.op('Softmax', [g.op('Add', [scores, attentionBias])], { axis: -1 }));
    const context = g.op('Reshape', [g.op('MatMul', [probs, presentValue]), ungroupedShape]);
    const merged = g.op('Reshape', [g.op('Transpose', [context], { perm: [0, 2, 1, 3] }), mergedShape]);
    const attended = project(merged, prefix, 'self_attn.o_proj', [{ name: 'self_attn.o_proj', N: arch.hiddenSize }], qSize, limitForStd(1 / Math.sqrt(qSize)));
    hidden = g.op('Add', [hidden, attended]);

    const postNormed = rmsNorm(hidden, ones(`${prefix}.post_attention_layernorm.weight`, arch.hiddenSize));
    const gateUp = project(postNormed, prefix, 'mlp.gate_up_proj', [{ name: 'mlp.gate_proj', N: arch.intermediateSize }, { name: 'mlp.up_proj', N: arch.intermediateSize }], arch.hiddenSize, limitForStd(projStd));
    const [gate, up] = g.node('Split', [gateUp, mlpSplit], { axis: -1 }, 2);
    const activated = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    const down = project(activated, prefix, 'mlp.down_proj', [{ name: 'mlp.down_proj', N: arch.hiddenSize }], arch.intermediateSize, limitForStd(1 / Math.sqrt(arch.intermediateSize)));
    hidden = g.op('Add', [hidden, down]);
  }
  if (!fused) finalNormed = rmsNorm(hidden, ones('model.norm.weight', arch.hiddenSize));
  const importedHead = weights?.lmHead();
  if (importedHead) {
    g.op('Identity', [linearOp(finalNormed, checkedShape(importedHead, arch.hiddenSize, arch.vocabSize, 'lm_head'), 'lm_head')], {}, 'logits');
    return g;
  }
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

type Project = (x: string, prefix: string, fused: string, parts: { name: string; N: number }[], K: number, limit: number, flat?: boolean) => string;

/**
 * The decoder layers and the final RMSNorm on onnxruntime's fused kernels
 * (LlamaArchitecture.fusedOps); returns the final normed hidden state,
 * [batch, sequence, hidden]. Inside, activations are 2-D [rows, features]
 * (one Gemm per block-offset product needs that) except around attention. Per
 * layer: the q/k/v projection, a Split, one RotaryEmbedding each for q and k
 * (Hugging Face's rotate-half form, cos/sin halves gathered by position_ids),
 * one Attention node (grouped-query, the past concatenated in the kernel, the
 * additive bias of the causal and padding masks), the output projection,
 * SkipSimplifiedLayerNormalization for residual + RMSNorm, and the MLP. The
 * residual sum leaves each SkipSimplifiedLayerNormalization as its fourth
 * output and feeds the next one.
 */
function fusedLayers(p: {
  g: OnnxGraphBuilder;
  arch: LlamaArchitecture;
  hidden: string;
  positionIds: string;
  /** [batch, sequence, -1]: the shape that turns a [rows, n] tensor back into [batch, sequence, n]. */
  shape3d: string;
  attentionBias: string;
  pastKeys: string[];
  pastValues: string[];
  /** Hugging Face's [maxPositions][headDim] rotate-half tables (cos, [-sin, sin]). */
  cosTable: Float32Array;
  sinTable: Float32Array;
  gamma: (name: string) => string;
  project: Project;
  limits: { qkv: number; o: number; gateUp: number; down: number };
}): string {
  const { g, arch } = p;
  const headDim = arch.hiddenSize / arch.numHeads;
  const half = headDim / 2;
  const qSize = arch.numHeads * headDim;
  const kvSize = arch.numKvHeads * headDim;
  // RotaryEmbedding reads [position][headDim / 2] caches: the first half of the cos table, the second (positive) half of the sin table.
  const cosHalf = new Float32Array(arch.maxPositions * half);
  const sinHalf = new Float32Array(arch.maxPositions * half);
  for (let position = 0; position < arch.maxPositions; position++) {
    cosHalf.set(p.cosTable.subarray(position * headDim, position * headDim + half), position * half);
    sinHalf.set(p.sinTable.subarray(position * headDim + half, (position + 1) * headDim), position * half);
  }
  const cos = g.initializer(floatTensor('rotary.cos_half', [arch.maxPositions, half], cosHalf));
  const sin = g.initializer(floatTensor('rotary.sin_half', [arch.maxPositions, half], sinHalf));
  const qkvSplit = g.int64s('/const/qkv_split', [qSize, kvSize, kvSize]);
  let qkSplit: string | undefined;
  const mlpSplit = g.int64s('/const/mlp_split', [arch.intermediateSize, arch.intermediateSize]);
  const epsilon = arch.rmsNormEps;
  const newKeyValues: string[] = [];
  /** residual + x, then RMSNorm with `gamma`: [normed, new residual]. */
  const skipNorm = (residual: string, x: string, gamma: string): [string, string] => {
    const [normed, , , sum] = g.msNode('SkipSimplifiedLayerNormalization', [residual, x, gamma], { epsilon }, 4, [g.fresh('skip_norm'), '', '', g.fresh('residual')]);
    return [normed, sum];
  };
  const rowShapes = new Map<number, string>();
  const rows = (x: string, width: number): string => {
    let shape = rowShapes.get(width);
    if (!shape) rowShapes.set(width, (shape = g.int64s(`/const/rows_${width}`, [-1, width])));
    return g.op('Reshape', [x, shape]);
  };
  const project: Project = (x, prefix, fusedName, parts, K, limit) => p.project(x, prefix, fusedName, parts, K, limit, true);
  let hidden = rows(p.hidden, arch.hiddenSize);
  let normed = g.op('SimplifiedLayerNormalization', [hidden, p.gamma('model.layers.0.input_layernorm.weight')], { axis: -1, epsilon, stash_type: 1 });
  for (let layer = 0; layer < arch.numLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    const qkv = g.op('Reshape', [project(normed, prefix, 'self_attn.qkv_proj', [{ name: 'self_attn.q_proj', N: qSize }, { name: 'self_attn.k_proj', N: kvSize }, { name: 'self_attn.v_proj', N: kvSize }], arch.hiddenSize, p.limits.qkv), p.shape3d]);
    let query: string;
    let key: string;
    let value: string;
    if (arch.ggml?.halfAttention) {
      // llama.cpp's float16 cache and query (ggml-numerics.ts); the softmax weights' rounding happens
      // inside Attention and is not reproduced here. The query and key heads share their positions, so
      // one RotaryEmbedding turns them all, and one Cast pair rounds q, k and v together: the same
      // values as per-tensor nodes, in 6 nodes a layer instead of 9.
      const [qk, v] = g.node('Split', [qkv, (qkSplit ??= g.int64s('/const/qk_v_split', [qSize + kvSize, kvSize]))], { axis: -1 }, 2);
      const rotated = g.op('RotaryEmbedding', [qk, cos, sin, p.positionIds], { num_heads: arch.numHeads + arch.numKvHeads });
      [query, key, value] = g.node('Split', [roundToHalf(g, g.op('Concat', [rotated, v], { axis: -1 })), qkvSplit], { axis: -1 }, 3);
    } else {
      const [q, k, v] = g.node('Split', [qkv, qkvSplit], { axis: -1 }, 3);
      query = g.op('RotaryEmbedding', [q, cos, sin, p.positionIds], { num_heads: arch.numHeads });
      key = g.op('RotaryEmbedding', [k, cos, sin, p.positionIds], { num_heads: arch.numKvHeads });
      value = v;
    }
    newKeyValues.push(key, value);
    const [attention] = g.node('Attention', [query, key, value, p.attentionBias, p.pastKeys[layer], p.pastValues[layer]], { q_num_heads: arch.numHeads, kv_num_heads: arch.numKvHeads }, 3, [
      g.fresh('attention'),
      `present.${layer}.key`,
      `present.${layer}.value`,
    ]);
    const attended = project(rows(attention, qSize), prefix, 'self_attn.o_proj', [{ name: 'self_attn.o_proj', N: arch.hiddenSize }], qSize, p.limits.o);
    const [postNormed, afterAttention] = skipNorm(hidden, attended, p.gamma(`${prefix}.post_attention_layernorm.weight`));
    const gateUp = project(postNormed, prefix, 'mlp.gate_up_proj', [{ name: 'mlp.gate_proj', N: arch.intermediateSize }, { name: 'mlp.up_proj', N: arch.intermediateSize }], arch.hiddenSize, p.limits.gateUp);
    const [gate, up] = g.node('Split', [gateUp, mlpSplit], { axis: -1 }, 2);
    const activated = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    const down = project(activated, prefix, 'mlp.down_proj', [{ name: 'mlp.down_proj', N: arch.hiddenSize }], arch.intermediateSize, p.limits.down);
    const nextGamma = p.gamma(layer + 1 < arch.numLayers ? `model.layers.${layer + 1}.input_layernorm.weight` : 'model.norm.weight');
    [normed, hidden] = skipNorm(afterAttention, down, nextGamma);
  }
  g.op('Concat', newKeyValues, { axis: -1 }, NEW_KEY_VALUES);
  return g.op('Reshape', [normed, p.shape3d]);
}

function floatTensor(name: string, dims: number[], values: Float32Array): OnnxTensor {
  return { name, dims, dataType: OnnxDataType.FLOAT, data: Buffer.from(values.buffer, values.byteOffset, values.byteLength) };
}

function checkedLength(values: Float32Array, length: number, name: string): Float32Array {
  if (values.length !== length) throw new RangeError(`${name} has ${values.length} values, expected ${length}`);
  return values;
}

function checkedShape(w: LinearWeight, K: number, N: number, name: string): LinearWeight {
  if (w.K !== K || w.N !== N) throw new RangeError(`${name} is ${w.N} x ${w.K}, expected ${N} x ${K}`);
  return w;
}

/** One weight for Linear layers stacked along N, when they share a format; undefined otherwise. */
export function fuseLinear(parts: LinearWeight[]): LinearWeight | undefined {
  if (parts.length === 1) return parts[0];
  const first = parts[0];
  const N = parts.reduce((sum, part) => sum + part.N, 0);
  if (parts.every((part) => part.kind === 'float')) {
    const rows = new Float32Array(first.K * N);
    let at = 0;
    for (const part of parts) {
      rows.set(part.rows, at);
      at += part.rows.length;
    }
    return { kind: 'float', K: first.K, N, rows };
  }
  if (first.kind !== 'nbits') return undefined;
  const nbits = parts.filter((part): part is NBitsLinear => part.kind === 'nbits');
  if (nbits.length !== parts.length || nbits.some((part) => part.bits !== first.bits || part.blockSize !== first.blockSize || !part.offsets !== !first.offsets)) return undefined;
  const concat = (arrays: Float32Array[]): Float32Array => {
    const out = new Float32Array(arrays.reduce((sum, array) => sum + array.length, 0));
    let at = 0;
    for (const array of arrays) {
      out.set(array, at);
      at += array.length;
    }
    return out;
  };
  return {
    kind: 'nbits',
    K: first.K,
    N,
    bits: first.bits,
    blockSize: first.blockSize,
    data: Buffer.concat(nbits.map((part) => part.data)),
    scales: concat(nbits.map((part) => part.scales)),
    offsets: first.offsets ? concat(nbits.map((part) => part.offsets!)) : undefined,
  };
}

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
