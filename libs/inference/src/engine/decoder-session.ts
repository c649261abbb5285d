import { readFileSync } from 'node:fs';
import type * as OrtModule from 'onnxruntime-node';
import { ModelLoadError } from '../errors';
import { NEW_KEY_VALUES } from '../generator/llama-graph';
import type { ModelConfig } from '../model/model-folder';
import { withLogitsToKeep } from '../onnx/logits-to-keep';
import { float16BitsToFloat32 } from '../onnx/onnx-builder';
import { quantizeModelWeightsInt8 } from '../onnx/weight-quantizer';
import type { KvArray, KvCache, KvLayout } from './kv-cache';

/**
 * onnxruntime-node, loaded on first use: requiring this library (e.g. only its
 * tokenizer, as the gateway does) never loads the native runtime.
 */
let runtime: typeof OrtModule | undefined;
function ortRuntime(): typeof OrtModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  runtime ??= require('onnxruntime-node') as typeof OrtModule;
  return runtime;
}

export interface DecoderSessionOptions {
  device: 'cpu' | 'cuda';
  intraOpThreads?: number;
  /** `int8` / `int4`: load the graph with its MatMul weights quantized to 8 or 4 bits (see weight-quantizer.ts). */
  quantize?: 'none' | 'int8' | 'int4';
  /**
   * Adds a `logits_to_keep` input where the graph has none (onnx/logits-to-keep.ts), so that a
   * teacher-forced pass computes the lm_head only for the positions it checks (ForwardInput.keepLogits).
   */
  logitsToKeep?: boolean;
  /** Turns onnxruntime's profiler on; the trace goes to `<prefix>_<timestamp>.json` at endProfiling(). */
  profileFilePrefix?: string;
}

export interface ForwardInput {
  batch: number;
  seqLength: number;
  /** [batch * seqLength] */
  inputIds: BigInt64Array;
  /** [batch * seqLength] */
  positionIds: BigInt64Array;
  /** [batch * (past + seqLength)] */
  attentionMask: BigInt64Array;
  past: KvCache;
  /** Also return the logits of every position (teacher forcing), not only the last one. */
  allLogits?: boolean;
  /**
   * With `allLogits` on a graph with a logits_to_keep input: only the last this many positions
   * (`logits` is then [batch][keepLogits][vocab]); graphs without one return every position.
   */
  keepLogits?: number;
}

/** Optional inputs that exports differ on. */
interface DecoderInputs {
  positionIds: boolean;
  /** Merged decoders (decoder_model_merged.onnx) switch between their with- and without-cache branches. */
  cacheBranch: boolean;
  /** Newer exports can compute logits for the last N positions only; the name changed across transformers versions. */
  logitsToKeep?: string;
}

const KNOWN_INPUTS = new Set([
  'input_ids',
  'attention_mask',
  'position_ids',
  'use_cache_branch',
  'num_logits_to_keep',
  'logits_to_keep',
]);

export interface ForwardOutput {
  /** Logits of the last position of each row, as float32 [batch][vocab]. */
  lastLogits: Float32Array[];
  /** With `allLogits`: float32 [batch][positions][vocab], row-major, the last `positions` fed. */
  logits?: Float32Array;
  /** How many positions `logits` covers: seqLength, or keepLogits where the graph can keep fewer. */
  positions: number;
  present: KvCache;
}

/** What forwardNew() returns: the logits and only the new positions' keys and values (see NEW_KEY_VALUES). */
export interface NewKvOutput {
  lastLogits: Float32Array[];
  /** [batch][seqLength][layers][key heads, value heads][head_dim] */
  newKeyValues: KvArray;
}

function decoderSessionOptions(options: DecoderSessionOptions): OrtModule.InferenceSession.SessionOptions {
  return {
    executionProviders: options.device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
    ...(options.profileFilePrefix
      ? { enableProfiling: true, profileFilePrefix: options.profileFilePrefix }
      : {}),
  };
}

const HALF_TO_FLOAT = (() => {
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) table[bits] = float16BitsToFloat32(bits);
  return table;
})();

/**
 * One onnxruntime session over an Optimum-style decoder graph. It discovers
 * the cache layout from the graph's own input metadata (falling back to
 * config.json) and hides the naming variants of exports: `use_cache_branch`
 * of merged decoders and graphs without position_ids.
 */
export class DecoderSession {
  private constructor(
    private readonly session: OrtModule.InferenceSession,
    readonly layout: KvLayout,
    readonly vocabSize: number,
    private readonly inputs: DecoderInputs,
    /** The outputs forward() fetches: logits and every present.N.*, not NEW_KEY_VALUES. */
    private readonly presentOutputs: string[],
    /**
     * The graph also outputs NEW_KEY_VALUES and honours attention masks with
     * holes, so a caller can keep a left-aligned cache with free columns and
     * append to it (forwardNew) instead of taking every layer's present back.
     */
    readonly appendsNewKeyValues: boolean,
  ) {}

  static async create(
    onnxPath: string,
    config: ModelConfig,
    options: DecoderSessionOptions,
  ): Promise<DecoderSession> {
    if (options.device === 'cuda') {
      const cuda = ortRuntime()
        .listSupportedBackends()
        .find((backend) => backend.name === 'cuda');
      if (!cuda)
        throw new ModelLoadError(
          'device "cuda" requested but this onnxruntime-node build has no CUDA execution provider',
        );
    }
    const sessionOptions = decoderSessionOptions(options);
    let quantized: Buffer | undefined;
    if (options.quantize === 'int8' || options.quantize === 'int4') {
      try {
        quantized = quantizeModelWeightsInt8(onnxPath, options.quantize === 'int4' ? 4 : 8).model;
      } catch (error) {
        throw new ModelLoadError(`${options.quantize} weights: ${(error as Error).message}`);
      }
    }
    if (options.logitsToKeep) {
      try {
        quantized = withLogitsToKeep(quantized ?? readFileSync(onnxPath)) ?? quantized;
      } catch (error) {
        throw new ModelLoadError(`onnxruntime could not load ${onnxPath}: ${(error as Error).message}`);
      }
    }
    let session: OrtModule.InferenceSession;
    try {
      session = quantized
        ? await ortRuntime().InferenceSession.create(quantized, sessionOptions)
        : await ortRuntime().InferenceSession.create(onnxPath, sessionOptions);
    } catch (error) {
      const message = (error as Error).message;
      if (options.device === 'cuda')
        throw new ModelLoadError(
          `CUDA execution provider could not be initialised (is the onnxruntime CUDA provider and a GPU driver installed?): ${message}`,
        );
      throw new ModelLoadError(`onnxruntime could not load ${onnxPath}: ${message}`);
    }
    const inputs = new Map(session.inputMetadata.map((meta) => [meta.name, meta]));
    for (const required of ['input_ids', 'attention_mask']) {
      if (!inputs.has(required))
        throw new ModelLoadError(
          `ONNX graph has no ${required} input (inputs: ${session.inputNames.join(', ')})`,
        );
    }
    if (!session.outputNames.includes('logits')) throw new ModelLoadError('ONNX graph has no logits output');
    const numLayers = config.num_hidden_layers!;
    const pastKey = inputs.get('past_key_values.0.key');
    if (!pastKey || !session.outputNames.includes('present.0.key')) {
      throw new ModelLoadError(
        'ONNX graph has no past_key_values.N.key / present.N.key cache inputs and outputs (export with --task text-generation-with-past)',
      );
    }
    for (let layer = 0; layer < numLayers; layer++) {
      for (const kind of ['key', 'value']) {
        if (!inputs.has(`past_key_values.${layer}.${kind}`))
          throw new ModelLoadError(
            `ONNX graph is missing input past_key_values.${layer}.${kind} (config.json says ${numLayers} layers)`,
          );
      }
    }
    const shape = pastKey.isTensor ? pastKey.shape : [];
    const elementType = pastKey.isTensor ? pastKey.type : 'float32';
    if (elementType !== 'float32' && elementType !== 'float16')
      throw new ModelLoadError(
        `unsupported key/value cache type ${elementType} (float32 and float16 are supported)`,
      );
    const heads = config.num_attention_heads!;
    const kvHeads = typeof shape[1] === 'number' ? shape[1] : (config.num_key_value_heads ?? heads);
    const headDim =
      typeof shape[3] === 'number' ? shape[3] : (config.head_dim ?? config.hidden_size! / heads);
    const logitsMeta = session.outputMetadata.find((meta) => meta.name === 'logits');
    const logitsShape = logitsMeta?.isTensor ? logitsMeta.shape : [];
    const vocabSize = typeof logitsShape[2] === 'number' ? logitsShape[2] : config.vocab_size!;
    if (!vocabSize)
      throw new ModelLoadError('vocabulary size unknown: neither the logits output nor config.json gives it');
    const unknown = session.inputNames.filter(
      (name) => !KNOWN_INPUTS.has(name) && !/^past_key_values\.\d+\.(key|value)$/.test(name),
    );
    if (unknown.length > 0)
      throw new ModelLoadError(
        `ONNX graph has inputs this runtime does not know how to feed: ${unknown.join(', ')}`,
      );
    const presentOutputs = ['logits'];
    for (let layer = 0; layer < numLayers; layer++)
      presentOutputs.push(`present.${layer}.key`, `present.${layer}.value`);
    const newKv = session.outputMetadata.find((meta) => meta.name === NEW_KEY_VALUES);
    const newKvWidth = newKv?.isTensor ? newKv.shape[2] : undefined;
    return new DecoderSession(
      session,
      { numLayers, kvHeads, headDim, elementType },
      vocabSize,
      {
        positionIds: inputs.has('position_ids'),
        cacheBranch: inputs.has('use_cache_branch'),
        logitsToKeep: ['num_logits_to_keep', 'logits_to_keep'].find((name) => inputs.has(name)),
      },
      presentOutputs,
      newKvWidth === 2 * numLayers * kvHeads * headDim && inputs.has('position_ids'),
    );
  }

  async forward(input: ForwardInput): Promise<ForwardOutput> {
    const { batch, seqLength } = input;
    const { numLayers } = this.layout;
    const total = input.past.length + seqLength;
    const outputs = await this.session.run(this.feeds(input), this.presentOutputs);
    const wanted = this.inputs.logitsToKeep ? Math.min(seqLength, input.keepLogits ?? seqLength) : seqLength;
    const { lastLogits, all, positions } = this.readLogits(outputs.logits, batch, wanted, input.allLogits === true);
    const present: KvCache = { batch, length: total, keys: [], values: [] };
    for (let layer = 0; layer < numLayers; layer++) {
      present.keys.push(fromOrtData(outputs[`present.${layer}.key`]));
      present.values.push(fromOrtData(outputs[`present.${layer}.value`]));
    }
    return { lastLogits, logits: all, positions, present };
  }

  /**
   * forward() for graphs that appendsNewKeyValues: returns the last logits
   * and the fed positions' keys and values only; the caller appends them to
   * its own cache. `past` may have free (masked) columns.
   */
  async forwardNew(input: ForwardInput): Promise<NewKvOutput> {
    if (!this.appendsNewKeyValues) throw new Error(`this graph has no ${NEW_KEY_VALUES} output`);
    const outputs = await this.session.run(this.feeds(input), ['logits', NEW_KEY_VALUES]);
    const { lastLogits } = this.readLogits(outputs.logits, input.batch, 1, false);
    return { lastLogits, newKeyValues: fromOrtData(outputs[NEW_KEY_VALUES]) };
  }

  private feeds(input: ForwardInput): Record<string, OrtModule.Tensor> {
    const { batch, seqLength, past } = input;
    const { kvHeads, headDim, elementType, numLayers } = this.layout;
    const total = past.length + seqLength;
    const { Tensor } = ortRuntime();
    const feeds: Record<string, OrtModule.Tensor> = {
      input_ids: new Tensor('int64', input.inputIds, [batch, seqLength]),
      attention_mask: new Tensor('int64', input.attentionMask, [batch, total]),
    };
    if (this.inputs.positionIds)
      feeds.position_ids = new Tensor('int64', input.positionIds, [batch, seqLength]);
    if (this.inputs.cacheBranch)
      feeds.use_cache_branch = new Tensor('bool', Uint8Array.of(past.length > 0 ? 1 : 0), [1]);
    if (this.inputs.logitsToKeep)
      feeds[this.inputs.logitsToKeep] = new Tensor(
        'int64',
        BigInt64Array.of(input.allLogits ? BigInt(Math.min(seqLength, input.keepLogits ?? seqLength)) : 1n),
        [],
      );
    const pastDims = [batch, kvHeads, past.length, headDim];
    for (let layer = 0; layer < numLayers; layer++) {
      feeds[`past_key_values.${layer}.key`] = kvTensor(elementType, past.keys[layer], pastDims);
      feeds[`past_key_values.${layer}.value`] = kvTensor(elementType, past.values[layer], pastDims);
    }
    return feeds;
  }

  private readLogits(
    logits: OrtModule.Tensor,
    batch: number,
    wanted: number,
    allLogits: boolean,
  ): { lastLogits: Float32Array[]; all?: Float32Array; positions: number } {
    const [, positions, vocab] = logits.dims;
    const lastLogits: Float32Array[] = [];
    for (let row = 0; row < batch; row++) {
      const offset = (row * positions + positions - 1) * vocab;
      if (logits.type === 'float16') {
        const halves = halfBits(logits.data);
        const out = new Float32Array(vocab);
        for (let i = 0; i < vocab; i++) out[i] = HALF_TO_FLOAT[halves[offset + i]];
        lastLogits.push(out);
      } else lastLogits.push((logits.data as Float32Array).slice(offset, offset + vocab));
    }
    let all: Float32Array | undefined;
    if (allLogits) {
      if (positions !== wanted)
        throw new Error(`the graph returned logits for ${positions} of ${wanted} positions`);
      all =
        logits.type === 'float16'
          ? Float32Array.from(halfBits(logits.data), (bits) => HALF_TO_FLOAT[bits])
          : (logits.data as Float32Array);
    }
    return { lastLogits, all, positions };
  }

  /** Writes the profiler's trace (sessions created with profileFilePrefix). */
  endProfiling(): void {
    this.session.endProfiling();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/*
 * float16 data: the engine keeps raw half-precision bits in Uint16Arrays. Where
 * the runtime has a Float16Array (Node.js 24), onnxruntime-common turns
 * float16 data into Float16Array views, both for outputs and for the inputs
 * it is given; but onnxruntime-node 1.29's native binding reads only a
 * Uint16Array for a float16 input (a Float16Array reads as empty: "not enough
 * space"). Inputs therefore show the binding the Uint16Array itself, outputs
 * are read back as bits. Views share the bytes: nothing is copied.
 */
function halfBits(data: OrtModule.Tensor['data']): Uint16Array {
  const view = data as unknown as ArrayBufferView & { length: number };
  return view instanceof Uint16Array ? view : new Uint16Array(view.buffer, view.byteOffset, view.length);
}

function fromOrtData(tensor: OrtModule.Tensor): KvArray {
  return tensor.type === 'float16' ? halfBits(tensor.data) : (tensor.data as Float32Array);
}

function kvTensor(type: 'float32' | 'float16', data: KvArray, dims: number[]): OrtModule.Tensor {
  const tensor = new (ortRuntime().Tensor)(type, data, dims);
  if (type === 'float16' && tensor.data !== data) Object.defineProperty(tensor, 'data', { value: data });
  return tensor;
}
