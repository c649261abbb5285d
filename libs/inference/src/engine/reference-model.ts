import { InvalidRequestError } from '../errors';
import { addEndOfTurnId, readModelFolder, type GenerationDefaults } from '../model/model-folder';
import { contextLengthOf } from '../model/prompt-counter';
import { ChatTemplate } from '../tokenizer/chat-template';
import { StreamingDetokenizer, Tokenizer } from '../tokenizer/tokenizer';
import type { ChatTurn, FinishReason, SamplingOptions } from '../types';
import { DecoderSession } from './decoder-session';
import { emptyKvCache } from './kv-cache';
import { TokenSampler, type SamplerSettings } from './sampler';
import { resolveSamplerSettings } from './sampler-settings';
import { StopSequenceMatcher } from './stop-matcher';

export interface ReferenceModelOptions {
  /** `int8` / `int4`: the reference itself runs with quantized weights (see EngineOptions.quantize). */
  quantize?: 'none' | 'int8' | 'int4';
  intraOpThreads?: number;
  onnxFile?: string;
  /** Caps the context window as the miners' engines do (EngineOptions.contextLength). */
  contextLength?: number;
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
export interface TokenScore {
  id: number;
  /** The reference's most likely token at this position (penalties applied). */
  topId: number;
  /** Logit of the top token minus the returned token's (0 when it is the top token). */
  gap: number;
  /** Log-probability of the token under the raw distribution (temperature 1, no filtering, penalties applied). */
  logprob: number;
  /**
   * Sampled requests: how far (in logits) the token lies below the weakest
   * token that the request's min-p / top-k / top-p kept; 0 when inside.
   */
  outsideBy: number;
  /** Sampled requests: log-probability under the request's sampling distribution (temperature, filters). */
  sampledLogprob: number;
  /** Sampled requests: expected log-probability of a token drawn from that distribution (minus its entropy)... */
  expectedLogprob: number;
  /** ...and the variance of that log-probability. */
  logprobVariance: number;
}

/**
 * The model a validator holds to check miners' answers: the same folder,
 * tokenizer, chat template and sampling rules as the InferenceEngine, but
 * instead of generating it scores a given completion with one teacher-forced
 * forward pass over prompt + completion (the logits of every position at
 * once, no KV cache kept).
 */
export class ReferenceModel {
  private readonly eosIds: Set<number>;

  private constructor(
    readonly modelName: string,
    readonly contextLength: number,
    private readonly tokenizer: Tokenizer,
    private readonly template: ChatTemplate,
    private readonly session: DecoderSession,
    private readonly defaults: GenerationDefaults,
  ) {
    this.eosIds = new Set(defaults.eosTokenIds);
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
    });
    // The engine's own end-of-turn ids and context length.
    addEndOfTurnId(folder, (token) => tokenizer.tokenId(token));
    const contextLength = contextLengthOf(folder.config, folder.tokenizerConfig, options.contextLength);
    return new ReferenceModel(folder.name, contextLength, tokenizer, template, session, folder.generation);
  }

  get vocabSize(): number {
    return this.session.vocabSize;
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
    const result = await this.session.forward({
      batch: 1,
      seqLength: fed.length,
      inputIds: BigInt64Array.from(fed, BigInt),
      positionIds: BigInt64Array.from(fed, (_, index) => BigInt(index)),
      attentionMask: new BigInt64Array(fed.length).fill(1n),
      past: emptyKvCache(this.session.layout, 1),
      allLogits: true,
    });
    const first = (promptIds.length - 1) * vocab;
    return result.logits!.slice(first, first + completionIds.length * vocab);
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

/** One position: the token against the top token and against what the sampler's filters kept. */
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
  let rawSum = 0;
  for (let i = 0; i < vocab; i++) rawSum += Math.exp(logits[i] - max);
  const score: TokenScore = {
    id,
    topId,
    gap: max - logits[id],
    logprob: logits[id] - max - Math.log(rawSum),
    outsideBy: 0,
    sampledLogprob: 0,
    expectedLogprob: 0,
    logprobVariance: 0,
  };
  const { temperature, topK, topP, minP } = settings;
  if (temperature <= 0) return score;
  // The same unnormalised probabilities and filters as TokenSampler.sample().
  const probs = scratch;
  let total = 0;
  for (let i = 0; i < vocab; i++) {
    const p = Math.exp((logits[i] - max) / temperature);
    probs[i] = p;
    total += p;
  }
  const minKeep = minP > 0 ? minP : 0;
  let kept: number[];
  if (topK <= 0 && topP >= 1) {
    kept = [];
    for (let i = 0; i < vocab; i++) if (probs[i] >= minKeep) kept.push(i);
  } else {
    let candidates: number[] = [];
    for (const floor of [1e-3, 1e-5, 1e-8, 0]) {
      const effective = Math.max(floor, minKeep);
      candidates = [];
      let mass = 0;
      for (let i = 0; i < vocab; i++) {
        if (probs[i] >= effective) {
          candidates.push(i);
          mass += probs[i];
        }
      }
      if (effective === minKeep || (topK > 0 ? candidates.length >= topK : mass >= topP * total)) break;
    }
    candidates.sort((a, b) => probs[b] - probs[a] || a - b);
    let count = topK > 0 ? Math.min(candidates.length, topK) : candidates.length;
    if (topP < 1) {
      let keptMass = topK > 0 ? 0 : total;
      if (topK > 0) for (let i = 0; i < count; i++) keptMass += probs[candidates[i]];
      let cumulative = 0;
      for (let i = 0; i < count; i++) {
        cumulative += probs[candidates[i]];
        if (cumulative >= topP * keptMass) {
          count = i + 1;
          break;
        }
      }
    }
    kept = candidates.slice(0, count);
  }
  let keptMass = 0;
  let weakest = Infinity;
  for (const i of kept) {
    keptMass += probs[i];
    if (logits[i] < weakest) weakest = logits[i];
  }
  score.outsideBy = Math.max(0, weakest - logits[id]);
  score.sampledLogprob = Math.log(probs[id] / keptMass);
  let mean = 0;
  let square = 0;
  for (const i of kept) {
    const q = probs[i] / keptMass;
    if (q <= 0) continue;
    const lq = Math.log(q);
    mean += q * lq;
    square += q * lq * lq;
  }
  score.expectedLogprob = mean;
  score.logprobVariance = Math.max(0, square - mean * mean);
  return score;
}
