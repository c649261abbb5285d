export type { ChatTurn, EngineOptions, FinishReason, GenerationChunk, SamplingOptions } from './types';
export { InferenceEngine } from './engine/inference-engine';
export { decoderSessionOptions } from './engine/decoder-session';
export { generateModel, GENERATOR_REVISION, MODEL_PRESETS, type ChatFormat, type GenerateModelOptions, type ModelPreset } from './generator/generate-model';
export { InvalidRequestError, ModelLoadError, QueueFullError } from './errors';
export { Tokenizer, StreamingDetokenizer } from './tokenizer/tokenizer';
export { OnnxDataType, OnnxGraphBuilder, writeExternalData } from './onnx/onnx-builder';
export { quantizeModelWeightsInt8, WeightQuantizationError } from './onnx/weight-quantizer';
