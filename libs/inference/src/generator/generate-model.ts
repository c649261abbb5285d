import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { byteLevelToBytes, LLAMA3_SPLIT_PATTERN } from '../tokenizer/byte-level';
import { trainByteLevelBpe } from './bpe-trainer';
import { TRAINING_CORPUS } from './corpus';
import { buildLlamaGraph, llamaGraphOpset, type LlamaArchitecture } from './llama-graph';
import { writeExternalData } from '../onnx/onnx-builder';

export type ModelPreset = 'tiny' | '100m' | '400m';

export interface GenerateModelOptions {
  /** Output folder; created when missing. */
  outDir: string;
  preset?: ModelPreset;
  seed?: number;
  hiddenSize?: number;
  numLayers?: number;
  numHeads?: number;
  numKvHeads?: number;
  intermediateSize?: number;
  /** Total vocabulary including special tokens. */
  vocabSize?: number;
  maxPositions?: number;
  ropeTheta?: number;
  tieWordEmbeddings?: boolean;
  dtype?: 'fp32' | 'fp16';
  /** Force weights into `model.onnx_data` (`model_fp16.onnx_data`) even for small models (they go there anyway above ~1.8 GB). */
  externalData?: boolean;
  /** Llama 3 style (default) or ChatML (Qwen2.5 / SmolLM2 style, written as model_type qwen2). */
  chatFormat?: ChatFormat;
  /** Write Optimum's merged-decoder form (`decoder_model_merged.onnx` with a `use_cache_branch` input) instead of `model.onnx`. */
  mergedDecoder?: boolean;
  /** Model name written into config.json (`_name_or_path`). */
  name?: string;
  /** Build on onnxruntime's fused kernels, as imported GGUF models are (LlamaArchitecture.fusedOps; float32 only). */
  fusedOps?: boolean;
}

type Architecture = Omit<LlamaArchitecture, 'dtype'>;

export const MODEL_PRESETS: Record<ModelPreset, Architecture> = {
  tiny: {
    hiddenSize: 64,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    intermediateSize: 160,
    vocabSize: 512,
    maxPositions: 1024,
    ropeTheta: 10000,
    rmsNormEps: 1e-5,
    tieWordEmbeddings: false,
  },
  '100m': {
    hiddenSize: 768,
    numLayers: 12,
    numHeads: 12,
    numKvHeads: 4,
    intermediateSize: 2560,
    vocabSize: 8192,
    maxPositions: 4096,
    ropeTheta: 500000,
    rmsNormEps: 1e-5,
    tieWordEmbeddings: true,
  },
  '400m': {
    hiddenSize: 1024,
    numLayers: 24,
    numHeads: 16,
    numKvHeads: 4,
    intermediateSize: 4096,
    vocabSize: 8192,
    maxPositions: 4096,
    ropeTheta: 500000,
    rmsNormEps: 1e-5,
    tieWordEmbeddings: true,
  },
};

/**
 * Conventions of the two chat-model families the generator imitates: Llama 3
 * (header tokens, BOS in the template) and ChatML as used by Qwen2.5 and
 * SmolLM2 (im_start/im_end, no BOS, a default system prompt).
 */
export type ChatFormat = 'llama3' | 'chatml';

interface ChatFormatSpec {
  modelType: 'llama' | 'qwen2';
  architecture: string;
  /** Appended after the BPE vocabulary, in this order. */
  specialTokens: string[];
  bosToken?: string;
  /** The tokenizer's eos_token (end of an assistant turn). */
  eosToken: string;
  /** Tokens that end generation (generation_config eos_token_id). */
  stopTokens: string[];
  splitPattern: string;
  chatTemplate: string;
  generationDefaults: Record<string, number | boolean>;
  extraConfig: Record<string, unknown>;
}

export const LLAMA3_CHAT_TEMPLATE =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

export const CHATML_CHAT_TEMPLATE =
  "{%- for message in messages %}{%- if loop.first and message['role'] != 'system' %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/** Qwen2's split: like Llama 3's, but digits one at a time. */
export const QWEN2_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const CHAT_FORMATS: Record<ChatFormat, ChatFormatSpec> = {
  llama3: {
    modelType: 'llama',
    architecture: 'LlamaForCausalLM',
    specialTokens: [
      '<|begin_of_text|>',
      '<|end_of_text|>',
      '<|start_header_id|>',
      '<|end_header_id|>',
      '<|eot_id|>',
    ],
    bosToken: '<|begin_of_text|>',
    eosToken: '<|eot_id|>',
    stopTokens: ['<|end_of_text|>', '<|eot_id|>'],
    splitPattern: LLAMA3_SPLIT_PATTERN,
    chatTemplate: LLAMA3_CHAT_TEMPLATE,
    generationDefaults: { do_sample: true, temperature: 0.6, top_p: 0.9 },
    extraConfig: { attention_bias: false, mlp_bias: false, pretraining_tp: 1 },
  },
  chatml: {
    modelType: 'qwen2',
    architecture: 'Qwen2ForCausalLM',
    specialTokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
    eosToken: '<|im_end|>',
    stopTokens: ['<|im_end|>', '<|endoftext|>'],
    splitPattern: QWEN2_SPLIT_PATTERN,
    chatTemplate: CHATML_CHAT_TEMPLATE,
    generationDefaults: {
      do_sample: true,
      temperature: 0.7,
      top_p: 0.8,
      top_k: 20,
      repetition_penalty: 1.05,
    },
    extraConfig: { use_sliding_window: false, sliding_window: 32768, max_window_layers: 28 },
  },
};

/** Bumped whenever the same options start producing different files, so caches of generated models can tell. */
export const GENERATOR_REVISION = 3;

// Protobuf messages are limited to 2 GiB; stay clear of it as exporters do.
const EXTERNAL_DATA_THRESHOLD_BYTES = 1.8e9;

/**
 * Writes a Llama-architecture model folder in the Hugging Face / Optimum ONNX
 * layout (config, generation config, tokenizer files, onnx/model.onnx) with
 * deterministic random weights derived from `seed`.
 */
export async function generateModel(options: GenerateModelOptions): Promise<void> {
  const arch = resolveArchitecture(options);
  const seed = options.seed ?? 42;
  const format = CHAT_FORMATS[options.chatFormat ?? 'llama3'];
  const specialCount = format.specialTokens.length;
  if (arch.vocabSize < 256 + specialCount)
    throw new RangeError(`vocabSize must be at least ${256 + specialCount} (bytes plus special tokens)`);

  const bpe = trainByteLevelBpe(TRAINING_CORPUS, format.splitPattern, arch.vocabSize - 256 - specialCount);
  const vocab: Record<string, number> = {};
  bpe.tokens.forEach((token, id) => (vocab[token] = id));
  // Where the corpus supports fewer merges than the vocabulary has room for,
  // the rest are reserved special tokens, as in Llama 3's vocabulary.
  const special: string[] = [...format.specialTokens];
  for (let index = 0; bpe.tokens.length + special.length < arch.vocabSize; index++)
    special.push(`<|reserved_special_token_${index}|>`);
  const specialIds = new Map(special.map((token, index) => [token, bpe.tokens.length + index]));
  const bosId = format.bosToken ? specialIds.get(format.bosToken)! : null;
  const stopIds = format.stopTokens.map((token) => specialIds.get(token)!);

  const onnxDir = join(options.outDir, 'onnx');
  mkdirSync(onnxDir, { recursive: true });
  const writeJson = (file: string, value: unknown): void =>
    writeFileSync(join(options.outDir, file), `${JSON.stringify(value, null, 2)}\n`);

  writeJson('config.json', {
    _name_or_path:
      options.name ??
      `chattensor/${format.modelType}-${options.preset ?? 'custom'}-${arch.dtype}-seed${seed}`,
    architectures: [format.architecture],
    model_type: format.modelType,
    attention_dropout: 0,
    bos_token_id: bosId ?? stopIds[stopIds.length - 1],
    eos_token_id: format.modelType === 'llama' ? stopIds : stopIds[0],
    head_dim: arch.hiddenSize / arch.numHeads,
    hidden_act: 'silu',
    hidden_size: arch.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: arch.intermediateSize,
    max_position_embeddings: arch.maxPositions,
    num_attention_heads: arch.numHeads,
    num_hidden_layers: arch.numLayers,
    num_key_value_heads: arch.numKvHeads,
    rms_norm_eps: arch.rmsNormEps,
    rope_scaling: null,
    rope_theta: arch.ropeTheta,
    tie_word_embeddings: arch.tieWordEmbeddings,
    torch_dtype: arch.dtype === 'fp16' ? 'float16' : 'float32',
    transformers_version: '4.46.0',
    use_cache: true,
    vocab_size: arch.vocabSize,
    ...format.extraConfig,
  });
  writeJson('generation_config.json', {
    bos_token_id: bosId ?? stopIds[stopIds.length - 1],
    eos_token_id: stopIds,
    ...format.generationDefaults,
    transformers_version: '4.46.0',
  });

  const addedTokens = special.map((content) => ({
    id: specialIds.get(content)!,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const byteLevelProcessor = {
    type: 'ByteLevel',
    add_prefix_space: false,
    trim_offsets: false,
    use_regex: false,
  };
  writeJson('tokenizer.json', {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: format.modelType === 'qwen2' ? { type: 'NFC' } : null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: format.splitPattern }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    // Llama 3 adds BOS when text is encoded with special tokens; chat templates already contain it.
    post_processor: format.bosToken
      ? {
          type: 'Sequence',
          processors: [
            byteLevelProcessor,
            {
              type: 'TemplateProcessing',
              single: [
                { SpecialToken: { id: format.bosToken, type_id: 0 } },
                { Sequence: { id: 'A', type_id: 0 } },
              ],
              pair: [
                { SpecialToken: { id: format.bosToken, type_id: 0 } },
                { Sequence: { id: 'A', type_id: 0 } },
                { SpecialToken: { id: format.bosToken, type_id: 1 } },
                { Sequence: { id: 'B', type_id: 1 } },
              ],
              special_tokens: {
                [format.bosToken]: { id: format.bosToken, ids: [bosId], tokens: [format.bosToken] },
              },
            },
          ],
        }
      : byteLevelProcessor,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: format.modelType === 'llama',
      vocab,
      merges: bpe.merges.map(([left, right]) => `${left} ${right}`),
    },
  });
  writeJson('tokenizer_config.json', {
    added_tokens_decoder: Object.fromEntries(addedTokens.map(({ id, ...token }) => [String(id), token])),
    bos_token: format.bosToken ?? null,
    chat_template: format.chatTemplate,
    clean_up_tokenization_spaces: false,
    eos_token: format.eosToken,
    model_input_names: ['input_ids', 'attention_mask'],
    model_max_length: arch.maxPositions,
    ...(format.modelType === 'qwen2'
      ? { pad_token: '<|endoftext|>', errors: 'replace', split_special_tokens: false }
      : {}),
    tokenizer_class: format.modelType === 'qwen2' ? 'Qwen2Tokenizer' : 'PreTrainedTokenizerFast',
  });
  writeJson('special_tokens_map.json', {
    ...(format.bosToken ? { bos_token: format.bosToken } : {}),
    eos_token: format.eosToken,
    ...(format.modelType === 'qwen2' ? { pad_token: '<|endoftext|>' } : {}),
  });

  // onnx-community names graphs by precision (model.onnx, model_fp16.onnx), which is how transformers.js picks one by dtype.
  const graphName = `${options.mergedDecoder ? 'decoder_model_merged' : 'model'}${arch.dtype === 'fp16' ? '_fp16' : ''}.onnx`;
  const quietIds = bpe.tokens.slice(0, 256).flatMap((token, id) => {
    const byte = byteLevelToBytes(token)![0];
    return byte >= 0x80 || (byte < 0x20 && byte !== 0x0a) || byte === 0x7f ? [id] : [];
  });
  const graphArch: LlamaArchitecture = {
    ...arch,
    reservedFrom: bpe.tokens.length + specialCount,
    quietIds,
    mergedDecoderInputs: options.mergedDecoder,
    fusedOps: options.fusedOps,
  };
  const graph = buildLlamaGraph(graphArch, seed);
  const external = options.externalData || graph.parameterBytes > EXTERNAL_DATA_THRESHOLD_BYTES;
  const { model, externalTensors } = graph.build({
    opset: llamaGraphOpset(graphArch),
    producer: 'chattensor-model-generator',
    external: external ? { location: `${graphName}_data`, thresholdBytes: 1024 } : undefined,
  });
  model.writeToFile(join(onnxDir, graphName));
  if (external)
    writeExternalData(
      join(onnxDir, `${graphName}_data`),
      externalTensors.map((tensor) => tensor.data),
    );
}

function resolveArchitecture(options: GenerateModelOptions): LlamaArchitecture {
  const base = MODEL_PRESETS[options.preset ?? 'tiny'];
  const arch: LlamaArchitecture = {
    hiddenSize: options.hiddenSize ?? base.hiddenSize,
    numLayers: options.numLayers ?? base.numLayers,
    numHeads: options.numHeads ?? base.numHeads,
    numKvHeads: options.numKvHeads ?? base.numKvHeads,
    intermediateSize: options.intermediateSize ?? base.intermediateSize,
    vocabSize: options.vocabSize ?? base.vocabSize,
    maxPositions: options.maxPositions ?? base.maxPositions,
    ropeTheta: options.ropeTheta ?? base.ropeTheta,
    rmsNormEps: base.rmsNormEps,
    tieWordEmbeddings: options.tieWordEmbeddings ?? base.tieWordEmbeddings,
    dtype: options.dtype ?? 'fp32',
  };
  for (const [key, value] of Object.entries(arch)) {
    if (typeof value === 'number' && (!Number.isFinite(value) || value <= 0))
      throw new RangeError(`${key} must be a positive number, got ${value}`);
  }
  if (arch.hiddenSize % arch.numHeads !== 0)
    throw new RangeError(`hiddenSize ${arch.hiddenSize} is not divisible by numHeads ${arch.numHeads}`);
  if ((arch.hiddenSize / arch.numHeads) % 2 !== 0)
    throw new RangeError('head dimension must be even for rotary embeddings');
  if (arch.numHeads % arch.numKvHeads !== 0)
    throw new RangeError(`numHeads ${arch.numHeads} is not a multiple of numKvHeads ${arch.numKvHeads}`);
  return arch;
}
