import type { MinerOutcome } from './reward';

/**
 * The speed part of the reward, in absolute terms so that an answer is worth
 * the same whether it raced peers (organic traffic) or was asked alone
 * (synthetic traffic). Both terms are saturating, x / (x + reference): twice
 * as fast earns less than twice as much, and miners that are equally fast
 * earn equally, so equals share the weight instead of one taking it all.
 */
export interface SpeedCurve {
  /** A first token after this many seconds (plus the per-prompt-token allowance) earns half the latency term. */
  ttftSeconds: number;
  /** Allowance per prompt token: longer prompts take longer to prefill. */
  ttftSecondsPerPromptToken: number;
  /** A decode rate of this many tokens per second earns half the rate term. */
  decodeTokensPerSecond: number;
  /** Share of the reward that a verified answer earns however slow it is, in [0, 1]. */
  base: number;
}

export const DEFAULT_SPEED_CURVE: SpeedCurve = {
  ttftSeconds: 1,
  ttftSecondsPerPromptToken: 0.001,
  decodeTokensPerSecond: 20,
  base: 0.4,
};

/** Latency and decode-rate terms in (0, 1), each 0.5 at the curve's reference point. */
export function speedTerms(
  outcome: Pick<MinerOutcome, 'completionTokens' | 'timeToFirstToken' | 'duration'>,
  promptTokens: number,
  curve: SpeedCurve = DEFAULT_SPEED_CURVE,
): { latency: number; rate: number } {
  const ttft = Math.max(outcome.timeToFirstToken ?? Infinity, 0);
  const reference = curve.ttftSeconds + curve.ttftSecondsPerPromptToken * Math.max(0, promptTokens);
  const latency = Number.isFinite(ttft) ? reference / (reference + ttft) : 0;
  if (
    outcome.completionTokens <= 1 ||
    outcome.duration === undefined ||
    outcome.timeToFirstToken === undefined
  )
    return { latency, rate: latency };
  const decodeSeconds = Math.max(outcome.duration - outcome.timeToFirstToken, 1e-3);
  const tokensPerSecond = (outcome.completionTokens - 1) / decodeSeconds;
  return { latency, rate: tokensPerSecond / (tokensPerSecond + curve.decodeTokensPerSecond) };
}

/**
 * Reward of one answer in [0, 1]: the verification gate (1 verified or not
 * checked, 0 failed) times base + (1 − base) × the mean of the two speed
 * terms. An answer that did not complete or has no text earns 0.
 */
export function verifiedReward(
  outcome: MinerOutcome,
  gate: 0 | 1,
  promptTokens: number,
  curve: SpeedCurve = DEFAULT_SPEED_CURVE,
): number {
  if (gate === 0 || !outcome.completed || outcome.text.length === 0 || outcome.timeToFirstToken === undefined)
    return 0;
  const { latency, rate } = speedTerms(outcome, promptTokens, curve);
  return curve.base + (1 - curve.base) * ((latency + rate) / 2);
}
