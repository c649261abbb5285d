import type { ReferenceModel } from '../engine/reference-model';
import type { ChatTurn, SamplingOptions } from '../types';

/** Why an answer failed verification; the label of the failure metric. */
export const FAILURE_REASONS = [
  'missing_token_ids',
  'invalid_token',
  'usage_mismatch',
  'text_mismatch',
  'ignored_stop',
  'cut_short',
  'not_top_token',
  'outside_sampling_set',
  'implausible_logprob',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** What a miner returned for one request, as its caller received it. */
export interface ReturnedAnswer {
  text: string;
  /** Token ids of the streamed chunks, in order. */
  tokenIds: number[];
  /** Sum of the chunks' token counts. */
  tokenCount: number;
  /** "stop" or "length"; empty when the stream ended without one. */
  finishReason: string;
  usage?: { promptTokens: number; completionTokens: number };
  /** False for transports that carry text only (the SDK axon): the ids are then the reference's encoding of the text. */
  idsFromMiner: boolean;
}

/**
 * How far an honest miner's tokens may stray from the reference. Logit
 * tolerances absorb the different arithmetic of an allowed quantization
 * (int8 / 4-bit weights, KV-cache decoding vs one teacher-forced pass);
 * see docs/verification.md for how they were measured.
 */
export interface Tolerances {
  /** Greedy: largest allowed (top logit − returned token's logit). */
  greedyLogitGap: number;
  /** Greedy: largest allowed mean gap over the answer's tokens (most of an honest answer is the top token). */
  greedyMeanGap: number;
  /** Sampled: largest allowed distance (in logits) below the weakest token the filters kept. */
  samplingLogitSlack: number;
  /** Sampled: largest allowed |z| of the summed log-probabilities against their expectation... */
  logprobZ: number;
  /** ...checked only on answers of at least this many tokens. */
  logprobMinTokens: number;
}

export type Verdict =
  | { outcome: 'verified'; tokens: number; worstGap: number; meanGap?: number; z?: number }
  | { outcome: 'failed'; reason: FailureReason; detail: string; tokens: number }
  | { outcome: 'skipped'; why: string };

const fail = (reason: FailureReason, detail: string, tokens: number): Verdict => ({
  outcome: 'failed',
  reason,
  detail,
  tokens,
});

/**
 * Checks one completed answer against the reference model: text and usage
 * against the ids, the stop conditions by replaying the engine's text path,
 * then every token in one teacher-forced pass (the top token for greedy
 * requests; inside the request's top-k / top-p / min-p and with a plausible
 * total log-probability for sampled ones).
 */
export async function verifyCompletion(
  reference: ReferenceModel,
  request: { messages: ChatTurn[]; sampling: SamplingOptions },
  answer: ReturnedAnswer,
  tolerances: Tolerances,
): Promise<Verdict> {
  if (!answer.finishReason) return { outcome: 'skipped', why: 'incomplete answer' };
  const { messages, sampling } = request;
  let promptIds: number[];
  try {
    promptIds = reference.encodeChat(messages, sampling.continueFinalMessage === true);
  } catch {
    return { outcome: 'skipped', why: 'the reference template rejects the conversation' };
  }
  let ids = answer.tokenIds;
  if (!answer.idsFromMiner) ids = reference.encodeText(answer.text);
  const n = ids.length;
  if (answer.idsFromMiner) {
    if (n === 0 && (answer.text.length > 0 || answer.tokenCount > 0))
      return fail('missing_token_ids', 'the answer carries no token ids', n);
    if (answer.tokenCount !== n)
      return fail('usage_mismatch', `chunks counted ${answer.tokenCount} tokens but carried ${n} ids`, n);
    if (answer.usage && answer.usage.completionTokens !== n)
      return fail(
        'usage_mismatch',
        `usage says ${answer.usage.completionTokens} completion tokens, ids are ${n}`,
        n,
      );
    if (answer.usage && answer.usage.promptTokens !== promptIds.length)
      return fail(
        'usage_mismatch',
        `usage says ${answer.usage.promptTokens} prompt tokens, the reference counts ${promptIds.length}`,
        n,
      );
  }
  const vocab = reference.vocabSize;
  const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
  if (bad !== undefined)
    return fail('invalid_token', `token id ${bad} is outside the vocabulary (${vocab})`, n);
  if (n === 0) return fail('cut_short', 'an answer without tokens', n);
  if (answer.idsFromMiner) {
    const replayed = reference.replay(promptIds.length, ids, sampling);
    if (replayed.finishedAt !== undefined && replayed.finishedAt < n - 1)
      return fail(
        'ignored_stop',
        `generation should have ended (${replayed.finishReason}) at token ${replayed.finishedAt + 1} of ${n}`,
        n,
      );
    if (replayed.text !== answer.text)
      return fail('text_mismatch', 'the text is not the detokenized token ids', n);
    // llama.cpp ends generation at more tokens than the engine's end of turn (for SmolLM2 also
    // <|endoftext|> and <reponame>): an answer that stops at one of them is finished. That token
    // is still checked against the reference below like any other.
    const endsAtSpecial = answer.finishReason === 'stop' && reference.endsGeneration(ids[n - 1]);
    if (replayed.finishedAt === undefined && !endsAtSpecial)
      return fail(
        'cut_short',
        `finished "${answer.finishReason}" before an end-of-turn, stop string or the limit of ${replayed.maxTokens} tokens`,
        n,
      );
    if (replayed.finishedAt !== undefined && replayed.finishReason !== answer.finishReason)
      return fail(
        'cut_short',
        `finish reason "${answer.finishReason}" where the tokens say "${replayed.finishReason}"`,
        n,
      );
  }
  if (promptIds.length + n > reference.contextLength)
    return { outcome: 'skipped', why: 'longer than the reference context window' };
  const settings = reference.samplerSettings(sampling);
  // Re-encoded text may split words differently from what the miner generated (BPE has
  // several tokenizations of one text): only the checks over the whole answer apply then.
  if (!answer.idsFromMiner)
    tolerances = { ...tolerances, greedyLogitGap: Infinity, samplingLogitSlack: Infinity };
  const scores = await reference.scoreTokens(promptIds, ids, settings);
  let worstGap = 0;
  let totalGap = 0;
  if (settings.temperature <= 0) {
    for (let i = 0; i < scores.length; i++) {
      const gap = scores[i].gap;
      if (gap > tolerances.greedyLogitGap)
        return fail(
          'not_top_token',
          `token ${i + 1} (${ids[i]}) is ${gap.toFixed(3)} logits below the reference's top token ${scores[i].topId}`,
          n,
        );
      worstGap = Math.max(worstGap, gap);
      totalGap += gap;
    }
    const meanGap = totalGap / n;
    if (meanGap > tolerances.greedyMeanGap)
      return fail(
        'not_top_token',
        `its tokens are on average ${meanGap.toFixed(3)} logits below the reference's top tokens`,
        n,
      );
    return { outcome: 'verified', tokens: n, worstGap, meanGap };
  }
  // The summed log-probability under each sampler order (the engine's, temperature first, and
  // llama.cpp's, filters first): an answer plausible under either is plausible.
  const orders = [
    { sum: 0, expected: 0, variance: 0 },
    { sum: 0, expected: 0, variance: 0 },
  ];
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (s.outsideBy > tolerances.samplingLogitSlack)
      return fail(
        'outside_sampling_set',
        `token ${i + 1} (${ids[i]}) is ${s.outsideBy.toFixed(3)} logits outside what the sampling settings allowed`,
        n,
      );
    worstGap = Math.max(worstGap, s.outsideBy);
    for (const [order, score] of [s, s.temperatureLast ?? s].entries()) {
      orders[order].sum += score.sampledLogprob;
      orders[order].expected += score.expectedLogprob;
      orders[order].variance += score.logprobVariance;
    }
  }
  // With a handful of tokens the sum says little; and a distribution without
  // spread (one kept token) has nothing to test.
  const tested = orders.filter((o) => o.variance >= 1e-9);
  if (n < tolerances.logprobMinTokens || tested.length === 0)
    return { outcome: 'verified', tokens: n, worstGap };
  const [z, mean, expectedMean] = tested
    .map((o) => [(o.sum - o.expected) / Math.sqrt(o.variance), o.sum / n, o.expected / n])
    .reduce((best, next) => (Math.abs(next[0]) < Math.abs(best[0]) ? next : best));
  if (Math.abs(z) > tolerances.logprobZ)
    return fail(
      'implausible_logprob',
      `mean log-probability ${mean.toFixed(3)} where sampling at temperature ${settings.temperature} gives ${expectedMean.toFixed(3)} (z = ${z.toFixed(2)})`,
      n,
    );
  return { outcome: 'verified', tokens: n, worstGap, z };
}
