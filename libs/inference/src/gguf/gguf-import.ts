import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ModelLoadError } from '../errors';
import { QWEN2_SPLIT_PATTERN } from '../generator/generate-model';
import { LLAMA_CPP_NUMERICS, type GgmlNumerics } from '../generator/ggml-numerics';
import { buildLlamaGraph, llamaGraphOpset, type LlamaArchitecture, type LlamaWeights } from '../generator/llama-graph';
import { writeExternalData } from '../onnx/onnx-builder';
import { LLAMA3_SPLIT_PATTERN } from '../tokenizer/byte-level';
import { GgmlType, ggmlTypeName, GgufFile, GgufFormatError, type GgufValue } from './gguf-file';
import { dequantize, permuteRows, rowBytes, toLinearWeight, type LinearWeight, type NBitsLinear } from './gguf-quant';

/** Bumped whenever the importer starts writing different files for the same GGUF, so imported folders can be refreshed. */
export const GGUF_IMPORTER_REVISION = 5;

/** Written into the imported folder; tells a later import of the same file that nothing needs doing. */
export const IMPORT_STAMP_FILE = 'chattensor-import.json';

export interface GgufImportOptions {
  /** Name written into config.json (`_name_or_path`); defaults to general.name or the file name. */
  name?: string;
  /** Extra fields for the stamp file (the source's sha256, say). */
  stamp?: Record<string, unknown>;
  /** MatMulNBits accuracy_level (see LlamaArchitecture.nbitsAccuracyLevel). */
  accuracyLevel?: number;
  /** Build on onnxruntime's fused kernels (LlamaArchitecture.fusedOps); default true. */
  fusedOps?: boolean;
  /** Write the weights to onnx/model.onnx_data; default true. */
  externalData?: boolean;
  /** Which of llama.cpp's CPU roundings the graph reproduces; all of them by default (see ggml-numerics.ts). */
  ggml?: GgmlNumerics;
}

export interface GgufImportResult {
  outDir: string;
  name: string;
  architecture: LlamaArchitecture;
  /** How each tensor type was carried: counts of tensors per ggml type. */
  tensorTypes: Record<string, number>;
  onnxBytes: number;
}

const SUPPORTED_ARCHITECTURES = ['llama'];

/** tokenizer.ggml.pre values this importer maps to a Hugging Face pre-tokenizer (llama.cpp's regexes, llama-vocab.cpp). */
const PRE_TOKENIZERS: Record<string, { pre: Record<string, unknown>; ignoreMerges: boolean }> = {};
{
  const byteLevel = (useRegex: boolean): Record<string, unknown> => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
  // \p{N} alone, then GPT-2's pattern: Hugging Face writes this as Digits(individual_digits) + ByteLevel(use_regex).
  const digitsThenGpt2 = { pre: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] }, ignoreMerges: false };
  for (const name of ['smollm', 'starcoder', 'refact', 'command-r', 'codeshell', 'exaone', 'minerva']) PRE_TOKENIZERS[name] = digitsThenGpt2;
  for (const name of ['gpt-2', 'gpt2', 'mpt', 'olmo', 'jais']) PRE_TOKENIZERS[name] = { pre: byteLevel(true), ignoreMerges: false };
  const split = (pattern: string): Record<string, unknown> => ({
    type: 'Sequence',
    pretokenizers: [{ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false }, byteLevel(false)],
  });
  for (const name of ['llama-bpe', 'llama3', 'smaug-bpe']) PRE_TOKENIZERS[name] = { pre: split(LLAMA3_SPLIT_PATTERN), ignoreMerges: true };
  for (const name of ['qwen2', 'deepseek-r1-qwen']) PRE_TOKENIZERS[name] = { pre: split(QWEN2_SPLIT_PATTERN), ignoreMerges: false };
}

/** llama.cpp's token types (llama_token_type). */
const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

function meta(file: GgufFile, key: string): GgufValue | undefined {
  return file.get(key);
}

function requireNumber(file: GgufFile, key: string): number {
  const value = file.get(key);
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new GgufFormatError(`GGUF metadata ${key} is missing or not a number`);
  return value;
}

function optionalNumber(file: GgufFile, key: string): number | undefined {
  const value = file.get(key);
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function stringArray(file: GgufFile, key: string): string[] {
  const value = file.get(key);
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw new GgufFormatError(`GGUF metadata ${key} is missing or not a list of strings`);
  return value as string[];
}

/**
 * Row order of llama.cpp's converter for Q and K: within each head it
 * interleaves the two rotary halves (row 2i+a holds Hugging Face's row
 * a*headDim/2 + i). Returns, for each Hugging Face row, the GGUF row holding it.
 */
export function unpermuteRotaryRows(heads: number, headDim: number): number[] {
  const perm: number[] = [];
  const half = headDim / 2;
  for (let h = 0; h < heads; h++)
    for (let a = 0; a < 2; a++) for (let i = 0; i < half; i++) perm.push(h * headDim + 2 * i + a);
  return perm;
}

export function readLlamaArchitecture(file: GgufFile): LlamaArchitecture {
  const architecture = meta(file, 'general.architecture');
  if (typeof architecture !== 'string') throw new GgufFormatError('GGUF metadata general.architecture is missing');
  if (!SUPPORTED_ARCHITECTURES.includes(architecture))
    throw new GgufFormatError(`GGUF architecture "${architecture}" is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  const a = architecture;
  const hiddenSize = requireNumber(file, `${a}.embedding_length`);
  const numHeads = requireNumber(file, `${a}.attention.head_count`);
  const numKvHeads = optionalNumber(file, `${a}.attention.head_count_kv`) ?? numHeads;
  const headDim = hiddenSize / numHeads;
  const keyLength = optionalNumber(file, `${a}.attention.key_length`);
  if (keyLength !== undefined && keyLength !== headDim)
    throw new GgufFormatError(`${a}.attention.key_length ${keyLength} differs from embedding_length / head_count (${headDim}); not supported`);
  const ropeDims = optionalNumber(file, `${a}.rope.dimension_count`);
  if (ropeDims !== undefined && ropeDims !== headDim)
    throw new GgufFormatError(`${a}.rope.dimension_count ${ropeDims} differs from the head dimension ${headDim}; partial rotary embeddings are not supported`);
  const scaling = meta(file, `${a}.rope.scaling.type`);
  if (typeof scaling === 'string' && scaling !== 'none')
    throw new GgufFormatError(`${a}.rope.scaling.type "${scaling}" is not supported (only unscaled rotary embeddings are)`);
  if (file.tensor('rope_freqs.weight')) throw new GgufFormatError('tensor rope_freqs.weight (Llama 3.1 rope scaling factors) is not supported');
  const tokens = stringArray(file, 'tokenizer.ggml.tokens');
  const embedding = file.tensor('token_embd.weight');
  if (!embedding) throw new GgufFormatError('tensor token_embd.weight is missing');
  const vocabSize = optionalNumber(file, `${a}.vocab_size`) ?? embedding.dims[1];
  if (embedding.dims[0] !== hiddenSize || embedding.dims[1] !== vocabSize)
    throw new GgufFormatError(`tensor token_embd.weight is ${embedding.dims.join(' x ')}, expected ${hiddenSize} x ${vocabSize}`);
  if (tokens.length !== vocabSize) throw new GgufFormatError(`the tokenizer has ${tokens.length} tokens but the model ${vocabSize}`);
  const arch: LlamaArchitecture = {
    hiddenSize,
    numLayers: requireNumber(file, `${a}.block_count`),
    numHeads,
    numKvHeads,
    intermediateSize: requireNumber(file, `${a}.feed_forward_length`),
    vocabSize,
    maxPositions: optionalNumber(file, `${a}.context_length`) ?? 4096,
    ropeTheta: optionalNumber(file, `${a}.rope.freq_base`) ?? 10000,
    // float32 in the file; Hugging Face configs hold the decimal it came from.
    rmsNormEps: Number((optionalNumber(file, `${a}.attention.layer_norm_rms_epsilon`) ?? 1e-5).toPrecision(6)),
    tieWordEmbeddings: !file.tensor('output.weight'),
    dtype: 'fp32',
  };
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new GgufFormatError(`embedding_length ${hiddenSize} / head_count ${numHeads} is not an even head dimension`);
  if (numHeads % numKvHeads !== 0) throw new GgufFormatError(`head_count ${numHeads} is not a multiple of head_count_kv ${numKvHeads}`);
  return arch;
}

/** The graph's weights, read from the GGUF tensor by tensor as the graph asks for them. */
class GgufWeights implements LlamaWeights {
  readonly used = new Set<string>();
  readonly types: Record<string, number> = {};

  constructor(
    private readonly file: GgufFile,
    private readonly arch: LlamaArchitecture,
  ) {}

  private info(name: string): NonNullable<ReturnType<GgufFile['tensor']>> {
    const info = this.file.tensor(name);
    if (!info) throw new GgufFormatError(`tensor ${name} is missing`);
    if (!this.used.has(name)) {
      this.used.add(name);
      const type = ggmlTypeName(info.type);
      this.types[type] = (this.types[type] ?? 0) + 1;
    }
    return info;
  }

  embedding(): Float32Array {
    const info = this.info('token_embd.weight');
    return dequantize(info.type, this.file.read(info.name), this.arch.vocabSize * this.arch.hiddenSize, info.name);
  }

  quantizedEmbedding(): NBitsLinear | undefined {
    const info = this.file.tensor('token_embd.weight');
    if (info?.type !== GgmlType.Q8_0) return undefined;
    return this.matrix('token_embd.weight', this.arch.hiddenSize, this.arch.vocabSize) as NBitsLinear;
  }

  norm(name: string): Float32Array {
    const gguf = name === 'model.norm' ? 'output_norm.weight' : name.replace(/^model\.layers\.(\d+)\.(input_layernorm|post_attention_layernorm)$/, (_, layer: string, kind: string) => `blk.${layer}.${kind === 'input_layernorm' ? 'attn_norm' : 'ffn_norm'}.weight`);
    const info = this.info(gguf);
    if (info.dims.length !== 1 || info.dims[0] !== this.arch.hiddenSize) throw new GgufFormatError(`tensor ${gguf} is ${info.dims.join(' x ')}, expected ${this.arch.hiddenSize}`);
    return dequantize(info.type, this.file.read(gguf), this.arch.hiddenSize, gguf);
  }

  linear(name: string, K: number, N: number): LinearWeight {
    const match = /^model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)$/.exec(name);
    if (!match) throw new GgufFormatError(`no GGUF tensor for ${name}`);
    const suffix: Record<string, string> = { q_proj: 'attn_q', k_proj: 'attn_k', v_proj: 'attn_v', o_proj: 'attn_output', gate_proj: 'ffn_gate', up_proj: 'ffn_up', down_proj: 'ffn_down' };
    const gguf = `blk.${match[1]}.${suffix[match[3]]}.weight`;
    if (this.file.tensor(gguf.replace(/\.weight$/, '.bias'))) throw new GgufFormatError(`tensor ${gguf.replace(/\.weight$/, '.bias')}: biases are not supported`);
    return this.matrix(gguf, K, N, match[3] === 'q_proj' ? this.arch.numHeads : match[3] === 'k_proj' ? this.arch.numKvHeads : undefined);
  }

  lmHead(): LinearWeight | undefined {
    const untied = this.file.tensor('output.weight');
    if (untied) return this.matrix('output.weight', this.arch.hiddenSize, this.arch.vocabSize);
    const embedding = this.file.tensor('token_embd.weight')!;
    // Tied: a float embedding is used as is (Transpose + MatMul); a quantized one is read through MatMulNBits without rounding again.
    if (embedding.type === GgmlType.F32) return undefined;
    return this.matrix('token_embd.weight', this.arch.hiddenSize, this.arch.vocabSize);
  }

  private matrix(name: string, K: number, N: number, rotaryHeads?: number): LinearWeight {
    const info = this.info(name);
    if (info.dims.length !== 2 || info.dims[0] !== K || info.dims[1] !== N) throw new GgufFormatError(`tensor ${name} is ${info.dims.join(' x ')}, expected ${K} x ${N}`);
    let data = this.file.read(name);
    if (rotaryHeads !== undefined) data = permuteRows(data, rowBytes(info.type, K, name), unpermuteRotaryRows(rotaryHeads, this.arch.hiddenSize / this.arch.numHeads));
    return toLinearWeight(info.type, data, K, N, name);
  }
}

function buildTokenizerFiles(file: GgufFile, arch: LlamaArchitecture): { tokenizer: unknown; config: Record<string, unknown>; specialMap: Record<string, string>; eosIds: number[]; bosId?: number } {
  const model = meta(file, 'tokenizer.ggml.model');
  if (model !== 'gpt2')
    throw new GgufFormatError(`tokenizer.ggml.model "${String(model)}" is not supported (supported: gpt2, byte-level BPE)`);
  const preName = meta(file, 'tokenizer.ggml.pre');
  const pre = PRE_TOKENIZERS[typeof preName === 'string' ? preName : 'gpt2'];
  if (!pre)
    throw new GgufFormatError(`tokenizer.ggml.pre "${String(preName)}" is not supported (supported: ${Object.keys(PRE_TOKENIZERS).join(', ')})`);
  const tokens = stringArray(file, 'tokenizer.ggml.tokens');
  const merges = stringArray(file, 'tokenizer.ggml.merges');
  const typesValue = meta(file, 'tokenizer.ggml.token_type');
  const types = Array.isArray(typesValue) ? (typesValue as number[]) : tokens.map(() => TOKEN_TYPE.NORMAL);
  const vocab: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  tokens.forEach((token, id) => {
    if (!(token in vocab)) vocab[token] = id;
    const type = types[id];
    if (type === TOKEN_TYPE.CONTROL || type === TOKEN_TYPE.USER_DEFINED)
      added.push({ id, content: token, single_word: false, lstrip: false, rstrip: false, normalized: type !== TOKEN_TYPE.CONTROL, special: type === TOKEN_TYPE.CONTROL });
  });
  const tokenOf = (key: string): string | undefined => {
    const id = optionalNumber(file, key);
    return id !== undefined && id >= 0 && id < tokens.length ? tokens[id] : undefined;
  };
  const bosId = optionalNumber(file, 'tokenizer.ggml.bos_token_id');
  const eosId = optionalNumber(file, 'tokenizer.ggml.eos_token_id');
  const eosIds = [...new Set([eosId, optionalNumber(file, 'tokenizer.ggml.eot_token_id'), optionalNumber(file, 'tokenizer.ggml.eom_token_id')].filter((id): id is number => id !== undefined && id >= 0 && id < tokens.length))];
  const addBos = meta(file, 'tokenizer.ggml.add_bos_token') === true;
  const bosToken = tokenOf('tokenizer.ggml.bos_token_id');
  const specials: Record<string, string | undefined> = {
    bos_token: bosToken,
    eos_token: tokenOf('tokenizer.ggml.eos_token_id'),
    unk_token: tokenOf('tokenizer.ggml.unknown_token_id'),
    pad_token: tokenOf('tokenizer.ggml.padding_token_id'),
  };
  const specialMap = Object.fromEntries(Object.entries(specials).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: pre.pre,
    post_processor:
      addBos && bosToken !== undefined
        ? {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: bosToken, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [{ SpecialToken: { id: bosToken, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bosToken, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
            special_tokens: { [bosToken]: { id: bosToken, ids: [bosId], tokens: [bosToken] } },
          }
        : byteLevel,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: pre.ignoreMerges, vocab, merges },
  };
  const template = meta(file, 'tokenizer.chat_template');
  const config: Record<string, unknown> = {
    add_bos_token: addBos,
    add_eos_token: meta(file, 'tokenizer.ggml.add_eos_token') === true,
    added_tokens_decoder: Object.fromEntries(added.map(({ id, ...token }) => [String(id), token])),
    ...specialMap,
    ...(typeof template === 'string' ? { chat_template: template } : {}),
    clean_up_tokenization_spaces: false,
    model_input_names: ['input_ids', 'attention_mask'],
    model_max_length: arch.maxPositions,
    tokenizer_class: 'GPT2Tokenizer',
  };
  if (typeof template !== 'string') throw new GgufFormatError('GGUF metadata tokenizer.chat_template is missing: a chat model needs its chat template');
  return { tokenizer, config, specialMap, eosIds, bosId };
}

// Protobuf messages are limited to 2 GiB; larger models keep their weights in model.onnx_data.
const EXTERNAL_DATA_THRESHOLD_BYTES = 1.8e9;

/**
 * Turns a llama-architecture GGUF file into a model folder in the Hugging
 * Face / Optimum ONNX layout (config.json, generation_config.json,
 * tokenizer.json, tokenizer_config.json, onnx/model.onnx) that the engine
 * serves. Block-quantized matrices stay quantized (see gguf-quant.ts). The
 * folder is written next to `outDir` and renamed into place, so a reader
 * never sees half of it.
 */
export function importGguf(ggufPath: string, outDir: string, options: GgufImportOptions = {}): GgufImportResult {
  const file = GgufFile.open(ggufPath);
  try {
    const arch = readLlamaArchitecture(file);
    const { tokenizer, config: tokenizerConfig, specialMap, eosIds, bosId } = buildTokenizerFiles(file, arch);
    const generalName = meta(file, 'general.name');
    const name = options.name ?? (ggufPath.split('/').pop()!.replace(/\.gguf$/i, '') || (typeof generalName === 'string' ? generalName : 'gguf-model'));
    const weights = new GgufWeights(file, arch);
    const graphArch: LlamaArchitecture = {
      ...arch,
      nbitsAccuracyLevel: options.accuracyLevel,
      fusedOps: options.fusedOps ?? true,
      ggml: options.ggml ?? LLAMA_CPP_NUMERICS,
    };
    const graph = buildLlamaGraph(graphArch, 0, weights);
    const unused = [...file.tensors.keys()].filter((tensor) => !weights.used.has(tensor));
    if (unused.length > 0) throw new GgufFormatError(`tensors the llama importer does not know: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', ...' : ''}`);
    const external = (options.externalData ?? true) || graph.parameterBytes > EXTERNAL_DATA_THRESHOLD_BYTES;
    const { model, externalTensors } = graph.build({
      opset: llamaGraphOpset(graphArch),
      producer: 'chattensor-gguf-importer',
      external: external ? { location: 'model.onnx_data', thresholdBytes: 1024 } : undefined,
    });

    const staging = `${outDir}.importing-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(join(staging, 'onnx'), { recursive: true });
    const writeJson = (path: string, value: unknown): void => writeFileSync(join(staging, path), `${JSON.stringify(value, null, 2)}\n`);
    const headDim = arch.hiddenSize / arch.numHeads;
    writeJson('config.json', {
      _name_or_path: name,
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      attention_bias: false,
      attention_dropout: 0,
      bos_token_id: bosId ?? null,
      eos_token_id: eosIds.length === 1 ? eosIds[0] : eosIds,
      head_dim: headDim,
      hidden_act: 'silu',
      hidden_size: arch.hiddenSize,
      intermediate_size: arch.intermediateSize,
      max_position_embeddings: arch.maxPositions,
      mlp_bias: false,
      num_attention_heads: arch.numHeads,
      num_hidden_layers: arch.numLayers,
      num_key_value_heads: arch.numKvHeads,
      pretraining_tp: 1,
      rms_norm_eps: arch.rmsNormEps,
      rope_scaling: null,
      rope_theta: arch.ropeTheta,
      tie_word_embeddings: arch.tieWordEmbeddings,
      torch_dtype: 'float32',
      use_cache: true,
      vocab_size: arch.vocabSize,
    });
    const padId = optionalNumber(file, 'tokenizer.ggml.padding_token_id');
    writeJson('generation_config.json', {
      ...(bosId !== undefined ? { bos_token_id: bosId } : {}),
      eos_token_id: eosIds,
      ...(padId !== undefined ? { pad_token_id: padId } : {}),
      // Low-temperature sampling, as SmolLM2 and most small instruct models recommend; requests override it.
      do_sample: true,
      temperature: 0.2,
      top_p: 0.9,
    });
    writeJson('tokenizer.json', tokenizer);
    writeJson('tokenizer_config.json', tokenizerConfig);
    writeJson('special_tokens_map.json', specialMap);
    model.writeToFile(join(staging, 'onnx', 'model.onnx'));
    if (external) writeExternalData(join(staging, 'onnx', 'model.onnx_data'), externalTensors.map((tensor) => tensor.data));
    writeJson(IMPORT_STAMP_FILE, { importer_revision: GGUF_IMPORTER_REVISION, source: ggufPath.split('/').pop(), ...options.stamp });
    mkdirSync(dirname(outDir), { recursive: true });
    rmSync(outDir, { recursive: true, force: true });
    renameSync(staging, outDir);
    return { outDir, name, architecture: arch, tensorTypes: weights.types, onnxBytes: graph.parameterBytes };
  } catch (error) {
    if (error instanceof ModelLoadError) throw error;
    throw new GgufFormatError(`cannot import ${ggufPath}: ${(error as Error).message}`);
  } finally {
    file.close();
  }
}
