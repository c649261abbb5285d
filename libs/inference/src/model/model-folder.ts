import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ModelLoadError } from '../errors';

/** The subset of a Hugging Face config.json the runtime reads. */
export interface ModelConfig {
  model_type?: string;
  _name_or_path?: string;
  hidden_size?: number;
  num_attention_heads?: number;
  num_key_value_heads?: number;
  num_hidden_layers?: number;
  head_dim?: number;
  vocab_size?: number;
  max_position_embeddings?: number;
  bos_token_id?: number | null;
  eos_token_id?: number | number[] | null;
  torch_dtype?: string;
}

export interface GenerationDefaults {
  eosTokenIds: number[];
  bosTokenId?: number;
  doSample: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  maxNewTokens?: number;
}

export interface ModelFolder {
  dir: string;
  name: string;
  config: ModelConfig;
  generation: GenerationDefaults;
  tokenizerJson: string;
  tokenizerConfig: Record<string, unknown>;
  onnxPath: string;
}

/** Architectures whose ONNX exports share the Llama decoder contract this runtime drives. */
const SUPPORTED_MODEL_TYPES = new Set([
  'llama',
  'qwen2',
  'qwen3',
  'mistral',
  'phi3',
  'gemma',
  'gemma2',
  'smollm3',
  'granite',
  'olmo',
  'olmo2',
  'stablelm',
  'starcoder2',
]);

/** Candidate graph files, in order of preference, as Optimum and onnx-community name them. */
const ONNX_CANDIDATES = [
  'onnx/model.onnx',
  'model.onnx',
  'onnx/decoder_model_merged.onnx',
  'decoder_model_merged.onnx',
  'onnx/model_fp16.onnx',
  'model_fp16.onnx',
  'onnx/decoder_model_merged_fp16.onnx',
  'decoder_model_merged_fp16.onnx',
];

export function readModelFolder(dir: string, onnxFile?: string): ModelFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new ModelLoadError(`model folder ${dir} does not exist`);
  const config = readJson<ModelConfig>(dir, 'config.json', true)!;
  const modelType = config.model_type;
  if (!modelType) throw new ModelLoadError('config.json has no model_type');
  if (!SUPPORTED_MODEL_TYPES.has(modelType))
    throw new ModelLoadError(
      `config.json: unsupported model_type "${modelType}" (supported: ${[...SUPPORTED_MODEL_TYPES].join(', ')})`,
    );
  for (const key of ['num_hidden_layers', 'num_attention_heads'] as const) {
    if (typeof config[key] !== 'number') throw new ModelLoadError(`config.json is missing ${key}`);
  }

  const tokenizerPath = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerPath))
    throw new ModelLoadError(
      `tokenizer.json is missing from ${dir} (only the fast tokenizer format is supported)`,
    );
  const tokenizerConfig = readJson<Record<string, unknown>>(dir, 'tokenizer_config.json', true)!;
  const generationJson = readJson<Record<string, unknown>>(dir, 'generation_config.json', false) ?? {};

  let onnxPath: string | undefined;
  if (onnxFile) {
    onnxPath = join(dir, onnxFile);
    if (!existsSync(onnxPath)) throw new ModelLoadError(`ONNX graph ${onnxFile} is missing from ${dir}`);
  } else onnxPath = ONNX_CANDIDATES.map((candidate) => join(dir, candidate)).find((path) => existsSync(path));
  if (!onnxPath)
    throw new ModelLoadError(`no ONNX graph in ${dir}: expected one of ${ONNX_CANDIDATES.join(', ')}`);

  const eos = generationJson.eos_token_id ?? config.eos_token_id;
  const eosTokenIds = (Array.isArray(eos) ? eos : eos === undefined || eos === null ? [] : [eos]).filter(
    (id): id is number => typeof id === 'number',
  );
  const number = (value: unknown): number | undefined =>
    typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  const generation: GenerationDefaults = {
    eosTokenIds,
    bosTokenId: number(generationJson.bos_token_id ?? config.bos_token_id),
    doSample: generationJson.do_sample === true,
    temperature: number(generationJson.temperature),
    topP: number(generationJson.top_p),
    topK: number(generationJson.top_k),
    minP: number(generationJson.min_p),
    repetitionPenalty: number(generationJson.repetition_penalty),
    maxNewTokens: number(generationJson.max_new_tokens),
  };
  return {
    dir,
    name: config._name_or_path && config._name_or_path.length > 0 ? config._name_or_path : basename(dir),
    config,
    generation,
    tokenizerJson: readFileSync(tokenizerPath, 'utf8'),
    tokenizerConfig,
    onnxPath,
  };
}

function readJson<T>(dir: string, file: string, required: boolean): T | undefined {
  const path = join(dir, file);
  if (!existsSync(path)) {
    if (required) throw new ModelLoadError(`${file} is missing from ${dir}`);
    return undefined;
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (error) {
    throw new ModelLoadError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Adds the tokenizer's end-of-sequence token to the generation config's end
 * ids: chat models often stop on their template's end-of-turn token (the
 * tokenizer's eos) while generation_config.json names another. The engine and
 * the reference model stop on the same ids.
 */
export function addEndOfTurnId(folder: ModelFolder, tokenId: (token: string) => number | undefined): void {
  const eosToken = folder.tokenizerConfig.eos_token;
  const eosContent =
    typeof eosToken === 'string' ? eosToken : (eosToken as { content?: string } | undefined)?.content;
  const eosId = eosContent ? tokenId(eosContent) : undefined;
  if (eosId !== undefined && !folder.generation.eosTokenIds.includes(eosId))
    folder.generation.eosTokenIds.push(eosId);
}
