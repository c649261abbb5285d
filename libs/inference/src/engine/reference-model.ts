import { InvalidRequestError } from '../errors';
import { addEndOfTurnId, readModelFolder, type GenerationDefaults } from '../model/model-folder';
import { contextLengthOf } from '../model/prompt-counter';
import { ChatTemplate } from '../tokenizer/chat-template';
import { StreamingDetokenizer, Tokenizer } from '../tokenizer/tokenizer';
import type { ChatTurn, FinishReason, SamplingOptions } from '../types';
import { DecoderSession } from './decoder-session';
import { emptyKvCache, type KvArray, type KvCache, type KvLayout } from './kv-cache';
import { keptByTopKTopP, TokenSampler, unnormalisedProbs, type SamplerSettings } from './sampler';
import { resolveSamplerSettings } from './sampler-settings';
import { StopSequenceMatcher } from './stop-matcher';

export interface ReferenceModelOptions {
  /** `int8` / `int4`: the reference itself runs with quantized weights (see EngineOptions.quantize). */
  quantize?: 'none' | 'int8' | 'int4';
  intraOpThreads?: number;
  onnxFile?: string;
  /** Caps the context window as the miners' engines do (EngineOptions.contextLength). */
  contextLength?: number;
  /**
   * Bytes of prompt key/value caches kept for later answers (default 64 MiB; 0 keeps none): an
   * answer whose prompt starts like a cached one (the same request answered by several miners, a
   * failover round, the same system prompt) runs only the tokens after the shared part.
   */
  prefixCacheBytes?: number;
}

/** What the prompt cache holds and how often it saved work, for metrics and the bench. */
export interface PrefixCacheStats {
  entries: number;
  bytes: number;
  /** Prompt tokens that were not run again because a cached prompt started with them. */
  reusedTokens: number;
  /** Tokens run through the model (prompt remainders and answers). */
  computedTokens: number;
}

const DEFAULT_PREFIX_CACHE_BYTES = 64 * 2 ** 20;

/**
 * Special tokens that llama.cpp ends generation at wherever a vocabulary has them (it recognises
 * them by name, with the end-of-turn and the fill-in-the-middle repository / file separators),
 * while the engine ends only at the model's end of turn.
 */
const END_OF_GENERATION_TOKENS = [
  '<|endoftext|>',
  '<|im_end|>',
  '<|eot_id|>',
  '<|eom_id|>',
  '<|end|>',
  '<end_of_turn>',
  '<|end_of_text|>',
  '<EOT>',
  '<end_of_utterance>',
  '<reponame>',
  '<|repo_name|>',
  '<|fim_pad|>',
  '<|file_sep|>',
];

/** The first `length` positions of a batch-1 cache (layout [1][kv_heads][positions][head_dim]). */
function kvPrefix(layout: KvLayout, cache: KvCache, length: number): KvCache {
  if (length === cache.length) return cache;
  const { kvHeads, headDim } = layout;
  const cut = (data: KvArray): KvArray => {
    const out =
      data instanceof Uint16Array
        ? new Uint16Array(kvHeads * length * headDim)
        : new Float32Array(kvHeads * length * headDim);
    for (let head = 0; head < kvHeads; head++) {
      const from = head * cache.length * headDim;
      out.set(data.subarray(from, from + length * headDim), head * length * headDim);
    }
    return out;
  };
  return { batch: 1, length, keys: cache.keys.map(cut), values: cache.values.map(cut) };
}

interface CachedPrompt {
  ids: readonly number[];
  cache: KvCache;
  bytes: number;
}

/**
 * The key/value caches of recently verified prompts, least recently used
 * first, within a byte budget. A lookup finds the cached prompt sharing the
 * longest start with the new one; that many positions need not run again
 * (keys and values of a position depend only on the tokens up to it).
 */
class PromptCache {
  private entries: CachedPrompt[] = [];
  private bytes = 0;
  reusedTokens = 0;
  computedTokens = 0;

  constructor(
    private readonly layout: KvLayout,
    private readonly budget: number,
  ) {}

  /** The longest cached start of `ids`, at most `limit` positions, as a cache of that length. */
  lookup(ids: readonly number[], limit: number): KvCache | undefined {
    let best: CachedPrompt | undefined;
    let bestLength = 0;
    for (const entry of this.entries) {
      const most = Math.min(limit, entry.ids.length);
      let length = 0;
      while (length < most && entry.ids[length] === ids[length]) length++;
      if (length > bestLength) {
        best = entry;
        bestLength = length;
      }
    }
    if (!best) return undefined;
    this.touch(best);
    return kvPrefix(this.layout, best.cache, bestLength);
  }

  /** Keeps the first `ids.length` positions of `present` (a cache that starts with `ids`). */
  store(ids: readonly number[], present: KvCache): void {
    if (this.budget <= 0) return;
    const same = this.entries.find(
      (entry) => entry.ids.length === ids.length && entry.ids.every((id, i) => id === ids[i]),
    );
    if (same) return this.touch(same);
    const { numLayers, kvHeads, headDim, elementType } = this.layout;
    const bytes = 2 * numLayers * kvHeads * ids.length * headDim * (elementType === 'float16' ? 2 : 4);
    if (bytes > this.budget) return;
    while (this.bytes + bytes > this.budget) this.bytes -= this.entries.shift()!.bytes;
    this.entries.push({ ids: [...ids], cache: kvPrefix(this.layout, present, ids.length), bytes });
    this.bytes += bytes;
  }

  stats(): PrefixCacheStats {
    return {
      entries: this.entries.length,
      bytes: this.bytes,
      reusedTokens: this.reusedTokens,
      computedTokens: this.computedTokens,
    };
  }

  private touch(entry: CachedPrompt): void {
    this.entries.splice(this.entries.indexOf(entry), 1);
    this.entries.push(entry);
  }
}

/** What the engine's text path makes of a list of generated token ids. */
export interface ReplayedAnswer {
  /** The text the engine streams for these ids (special tokens skipped, stop strings cut). */
  text: string;
  /** Index of the token at which the engine ends generation; undefined when none of them ends it. */
  finishedAt?: number;
  finishReason?: FinishReason;
  /** Completion token limit the engine applies to this request. */
  maxTokens: number;
}

/** The reference model's view of one returned token, from a teacher-forced pass. */
/** Where a sampled token lies against the set a sampler's filters kept, and its log-probability under that sampler. */
export interface SampledScore {
  /** How far (in logits) the token lies below the weakest token the min-p / top-k / top-p filters kept; 0 when inside. */
  outsideBy: number;
  /** Log-probability of the token under the sampling distribution (temperature, filters). */
  sampledLogprob: number;
  /** Expected log-probability of a token drawn from that distribution (minus its entropy)... */
  expectedLogprob: number;
  /** ...and the variance of that log-probability. */
  logprobVariance: number;
}

/**
 * The reference model's view of one returned token, from a teacher-forced
 * pass. Sampled requests are scored under both orders samplers use: the
 * engine's (and Hugging Face's) temperature before the filters, in the
 * top-level fields, and llama.cpp's filters before temperature, in
 * `temperatureLast`; `outsideBy` is the smaller of the two distances.
 */
export interface TokenScore extends SampledScore {
  id: number;
  /** The reference's most likely token at this position (penalties applied). */
  topId: number;
  /** Logit of the top token minus the returned token's (0 when it is the top token). */
  gap: number;
  /** Sampled requests: the same with the filters applied before temperature (llama.cpp's default order). */
  temperatureLast?: SampledScore;
}

/**
 * The model a validator holds to check miners' answers: the same folder,
 * tokenizer, chat template and sampling rules as the InferenceEngine, but
 * instead of generating it scores a given completion with one teacher-forced
 * forward pass over prompt + completion. The pass computes the lm_head only
 * for the completion's positions (onnx/logits-to-keep.ts) and starts after
 * the longest cached start of the prompt (PromptCache).
 */
export class ReferenceModel {
  private readonly eosIds: Set<number>;
  private readonly prompts: PromptCache;

  private constructor(
    readonly modelName: string,
    readonly contextLength: number,
    private readonly tokenizer: Tokenizer,
    private readonly template: ChatTemplate,
    private readonly session: DecoderSession,
    private readonly defaults: GenerationDefaults,
    prefixCacheBytes: number,
  ) {
    this.eosIds = new Set(defaults.eosTokenIds);
    this.prompts = new PromptCache(session.layout, prefixCacheBytes);
  }

  /** Loads a model folder; throws ModelLoadError naming what is missing or unsupported. */
  static async load(modelDir: string, options: ReferenceModelOptions = {}): Promise<ReferenceModel> {
    const folder = readModelFolder(modelDir, options.onnxFile);
    const tokenizer = Tokenizer.fromJson(folder.tokenizerJson);
    const template = ChatTemplate.fromConfig(folder.tokenizerConfig);
    const session = await DecoderSession.create(folder.onnxPath, folder.config, {
      device: 'cpu',
      intraOpThreads: options.intraOpThreads,
      quantize: options.quantize ?? 'none',
      logitsToKeep: true,
    });
    // The engine's own end-of-turn ids and context length.
    addEndOfTurnId(folder, (token) => tokenizer.tokenId(token));
    const contextLength = contextLengthOf(folder.config, folder.tokenizerConfig, options.contextLength);
    return new ReferenceModel(
      folder.name,
      contextLength,
      tokenizer,
      template,
      session,
      folder.generation,
      options.prefixCacheBytes ?? DEFAULT_PREFIX_CACHE_BYTES,
    );
  }

  get vocabSize(): number {
    return this.session.vocabSize;
  }

  /** What the prompt cache holds and how many prompt tokens it saved so far. */
  get prefixCache(): PrefixCacheStats {
    return this.prompts.stats();
  }

  /** The prompt token ids the engine feeds for these messages. */
  encodeChat(messages: ChatTurn[], continueFinal = false): number[] {
    let prompt: string;
    try {
      prompt = this.template.renderPrompt(messages, continueFinal);
    } catch (error) {
      throw new InvalidRequestError(
        `the model's chat template rejected the conversation: ${(error as Error).message}`,
      );
    }
    return this.tokenizer.encode(prompt);
  }

  /**
   * Whether generation may end at this token: the engine's end-of-turn ids, and the special
   * tokens llama.cpp also ends generation at (END_OF_GENERATION_TOKENS; for SmolLM2
   * <|endoftext|> and <reponame> beside <|im_end|>).
   */
  endsGeneration(id: number): boolean {
    if (this.eosIds.has(id)) return true;
    if (!this.tokenizer.isSpecial(id)) return false;
    return END_OF_GENERATION_TOKENS.some((name) => this.tokenizer.tokenId(name) === id);
  }

  /** Encodes plain text (no template), for answers that arrive without token ids. */
  encodeText(text: string): number[] {
    return this.tokenizer.encode(text);
  }

  /** The sampler settings the engine runs a request with (the seed is irrelevant to scoring). */
  samplerSettings(sampling: SamplingOptions): SamplerSettings {
    return resolveSamplerSettings(this.defaults, { ...sampling, seed: sampling.seed ?? 0 });
  }

  /** Decodes ids exactly as the engine streams them: end-of-turn tokens, stop strings and the length limit included. */
  replay(promptLength: number, ids: readonly number[], sampling: SamplingOptions): ReplayedAnswer {
    const maxTokens = Math.min(
      this.contextLength - promptLength,
      sampling.maxTokens ?? this.defaults.maxNewTokens ?? Number.MAX_SAFE_INTEGER,
    );
    const detokenizer = new StreamingDetokenizer(this.tokenizer);
    const stops = new StopSequenceMatcher((sampling.stop ?? []).filter((stop) => stop.length > 0));
    const drain = (): string => {
      const step = stops.push(detokenizer.flush());
      return step.stopped ? step.text : step.text + stops.flush();
    };
    let text = '';
    for (let index = 0; index < ids.length; index++) {
      const id = ids[index];
      if (this.eosIds.has(id) && !sampling.ignoreEos)
        return { text: text + drain(), finishedAt: index, finishReason: 'stop', maxTokens };
      const step = stops.push(detokenizer.push(id));
      text += step.text;
      if (step.stopped) return { text, finishedAt: index, finishReason: 'stop', maxTokens };
      if (index + 1 >= maxTokens || promptLength + index + 1 >= this.contextLength)
        return { text: text + drain(), finishedAt: index, finishReason: 'length', maxTokens };
    }
    return { text: text + drain(), maxTokens };
  }

  /**
   * Teacher forcing: one forward pass over prompt + completion; returns the
   * logits that predicted each completion token, float32 [completion.length][vocab].
   */
  async logits(promptIds: readonly number[], completionIds: readonly number[]): Promise<Float32Array> {
    if (promptIds.length === 0) throw new InvalidRequestError('prompt is empty');
    if (completionIds.length === 0) return new Float32Array(0);
    // The last completion token predicts nothing we check, so it is not fed.
    const fed = [...promptIds, ...completionIds.slice(0, -1)];
    if (fed.length > this.contextLength)
      throw new InvalidRequestError(
        `prompt and completion have ${fed.length + 1} tokens; the context window is ${this.contextLength}`,
      );
    const vocab = this.session.vocabSize;
    for (const id of completionIds)
      if (!Number.isInteger(id) || id < 0 || id >= vocab)
        throw new InvalidRequestError(`token id ${id} is outside the vocabulary (${vocab})`);
    // Keys and values of the prompt's first positions may be cached from an earlier answer; the
    // position that predicts the first completion token must run, so at most the prompt less one.
    const past = this.prompts.lookup(promptIds, promptIds.length - 1) ?? emptyKvCache(this.session.layout, 1);
    const start = past.length;
    const fresh = fed.slice(start);
    const result = await this.session.forward({
      batch: 1,
      seqLength: fresh.length,
      inputIds: BigInt64Array.from(fresh, BigInt),
      positionIds: BigInt64Array.from(fresh, (_, index) => BigInt(start + index)),
      attentionMask: new BigInt64Array(fed.length).fill(1n),
      past,
      allLogits: true,
      keepLogits: completionIds.length,
    });
    this.prompts.reusedTokens += start;
    this.prompts.computedTokens += fresh.length;
    this.prompts.store(promptIds, result.present);
    // The last completion.length positions fed are the ones that predicted the completion.
    const first = (result.positions - completionIds.length) * vocab;
    return result.logits!.subarray(first, first + completionIds.length * vocab);
  }

  /**
   * Scores every completion token under the request's sampling settings,
   * with the engine's penalties applied as generation went along.
   */
  async scoreTokens(
    promptIds: readonly number[],
    completionIds: readonly number[],
    settings: SamplerSettings,
  ): Promise<TokenScore[]> {
    const all = await this.logits(promptIds, completionIds);
    const vocab = this.session.vocabSize;
    const penalties = new TokenSampler(settings, promptIds);
    const scratch = new Float32Array(vocab);
    return completionIds.map((id, position) => {
      const row = all.subarray(position * vocab, (position + 1) * vocab);
      penalties.penalize(row);
      penalties.accept(id);
      return scoreToken(row, id, settings, scratch);
    });
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

let keptScratch = new Int32Array(0);

/**
 * One position: the token against the top token and against what the
 * sampler's filters kept. Linear in the vocabulary except for the top-k /
 * top-p candidates (the tokens above a probability floor, as the sampler
 * gathers them), which are sorted; exp() is skipped where it underflows, as
 * in the sampler.
 */
export function scoreToken(
  logits: Float32Array,
  id: number,
  settings: Pick<SamplerSettings, 'temperature' | 'topK' | 'topP' | 'minP'>,
  scratch: Float32Array = new Float32Array(logits.length),
): TokenScore {
  const vocab = logits.length;
  let max = -Infinity;
  let topId = 0;
  for (let i = 0; i < vocab; i++) {
    if (logits[i] > max) {
      max = logits[i];
      topId = i;
    }
  }
  // Only what the checks read: a greedy answer needs the top token alone, so no exp() pass runs for it.
  const head = { id, topId, gap: max - logits[id] };
  const { temperature, topP, minP } = settings;
  if (temperature <= 0)
    return { ...head, outsideBy: 0, sampledLogprob: 0, expectedLogprob: 0, logprobVariance: 0 };
  const first = sampledScore(logits, id, max, temperature, temperature, settings, scratch);
  // The two orders keep the same set at temperature 1 and without filters (top-k alone keeps the same tokens either way).
  if (temperature === 1 || (topP >= 1 && minP <= 0)) return { ...head, ...first };
  const last = sampledScore(logits, id, max, 1, temperature, settings, scratch);
  return { ...head, ...first, outsideBy: Math.min(first.outsideBy, last.outsideBy), temperatureLast: last };
}

/**
 * The filters applied to probabilities at `filterTemperature` (the request's
 * temperature: the engine's order; 1: llama.cpp's), then the kept tokens
 * weighted at `sampleTemperature`.
 */
function sampledScore(
  logits: Float32Array,
  id: number,
  max: number,
  filterTemperature: number,
  sampleTemperature: number,
  settings: Pick<SamplerSettings, 'topK' | 'topP' | 'minP'>,
  probs: Float32Array,
): SampledScore {
  const vocab = logits.length;
  const { topK, topP, minP } = settings;
  // The same unnormalised probabilities and filters as TokenSampler.sample().
  const total = unnormalisedProbs(logits, max, filterTemperature, probs);
  const minKeep = minP > 0 ? minP : 0;
  if (keptScratch.length < vocab) keptScratch = new Int32Array(vocab);
  const kept = keptScratch;
  let count = 0;
  if (topK <= 0 && topP >= 1) {
    for (let i = 0; i < vocab; i++) if (probs[i] > 0 && probs[i] >= minKeep) kept[count++] = i;
  } else count = keptByTopKTopP(probs, vocab, total, topK, topP, minKeep, kept);
  // The kept tokens' weights at the sampling temperature.
  const same = filterTemperature === sampleTemperature;
  const weight = (i: number): number => (same ? probs[i] : Math.exp((logits[i] - max) / sampleTemperature));
  let keptMass = 0;
  let weakest = Infinity;
  for (let k = 0; k < count; k++) {
    const i = kept[k];
    keptMass += weight(i);
    if (logits[i] < weakest) weakest = logits[i];
  }
  let mean = 0;
  let square = 0;
  for (let k = 0; k < count; k++) {
    const q = weight(kept[k]) / keptMass;
    if (q <= 0) continue;
    const lq = Math.log(q);
    mean += q * lq;
    square += q * lq * lq;
  }
  // Without a filter every token is allowed, those under the cut-off included; and the token's own
  // weight is exact even there, so an honest draw from far down the tail costs log-probability only.
  const filtered = topK > 0 || topP < 1 || minKeep > 0;
  return {
    outsideBy: filtered ? Math.max(0, weakest - logits[id]) : 0,
    sampledLogprob: Math.log(Math.exp((logits[id] - max) / sampleTemperature) / keptMass),
    expectedLogprob: mean,
    logprobVariance: Math.max(0, square - mean * mean),
  };
}

