export type { ChatTurn, EngineOptions, FinishReason, GenerationChunk, SamplingOptions } from './types';
export { InferenceEngine } from './engine/inference-engine';
export { DecoderSession } from './engine/decoder-session';
export { emptyKvCache } from './engine/kv-cache';
export { readModelFolder } from './model/model-folder';
export { PromptCounter, contextLengthOf } from './model/prompt-counter';
export {
  generateModel,
  GENERATOR_REVISION,
  MODEL_PRESETS,
  type ChatFormat,
  type GenerateModelOptions,
  type ModelPreset,
} from './generator/generate-model';
export { InvalidRequestError, ModelLoadError, QueueFullError } from './errors';
export { Tokenizer, StreamingDetokenizer } from './tokenizer/tokenizer';
export { OnnxDataType, OnnxGraphBuilder, writeExternalData } from './onnx/onnx-builder';
export { quantizeModelWeightsInt8, WeightQuantizationError } from './onnx/weight-quantizer';
export {
  ReferenceModel,
  scoreToken,
  type PrefixCacheStats,
  type ReferenceModelOptions,
  type ReplayedAnswer,
  type SampledScore,
  type TokenScore,
} from './engine/reference-model';
export { resolveSamplerSettings } from './engine/sampler-settings';
export type { SamplerSettings } from './engine/sampler';
export {
  FAILURE_REASONS,
  verifyCompletion,
  type FailureReason,
  type ReturnedAnswer,
  type Tolerances,
  type Verdict,
} from './verification/completion-verifier';
export { importGguf, GGUF_IMPORTER_REVISION, type GgufImportResult } from './gguf/gguf-import';
export { GgufFile, GgufFormatError } from './gguf/gguf-file';
export {
  DEFAULT_MODEL,
  defaultModelPaths,
  ensureDefaultModel,
  importGgufCached,
  ModelFetchError,
} from './model/default-model';
