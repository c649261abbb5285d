/** What the validator observed of one miner's answer to one request. */
export interface MinerOutcome {
  uid: number;
  /** Finished with a finish reason (not failed, not cut by a timeout). */
  completed: boolean;
  /** Text it produced (possibly partial). */
  text: string;
  completionTokens: number;
  /** Seconds from the call to the first token; undefined if none came. */
  timeToFirstToken?: number;
  /** Seconds from the call to the last token. */
  duration?: number;
}

export interface RewardWeights {
  /** Share of the reward for answering at all, with non-empty text. */
  success: number;
  /** Share for a fast first token, relative to the fastest peer. */
  latency: number;
  /** Share for decode throughput, relative to the best peer. */
  throughput: number;
}

export const DEFAULT_REWARD_WEIGHTS: RewardWeights = { success: 0.5, latency: 0.3, throughput: 0.2 };

function throughputOf(o: MinerOutcome): number {
  if (!o.completed || o.duration === undefined || o.timeToFirstToken === undefined) return 0;
  const decodeTime = Math.max(o.duration - o.timeToFirstToken, 1e-3);
  return Math.max(o.completionTokens - 1, 0) / decodeTime;
}

/**
 * Rewards in [0, 1] for every outcome of one request. A failed or empty
 * answer earns 0; a good one earns the success share plus latency and
 * throughput shares relative to the best peer of the same request, so a
 * slow network or a long prompt does not punish everybody alike.
 */
export function rewardOutcomes(
  outcomes: MinerOutcome[],
  weights: RewardWeights = DEFAULT_REWARD_WEIGHTS,
): Map<number, number> {
  const good = outcomes.filter((o) => o.completed && o.text.length > 0 && o.timeToFirstToken !== undefined);
  const fastest = Math.min(...good.map((o) => o.timeToFirstToken!));
  const bestThroughput = Math.max(0, ...good.map(throughputOf));
  const total = weights.success + weights.latency + weights.throughput;
  const rewards = new Map<number, number>();
  for (const o of outcomes) {
    if (!good.includes(o)) {
      rewards.set(o.uid, 0);
      continue;
    }
    const latency = Math.min(1, Math.max(fastest, 1e-3) / Math.max(o.timeToFirstToken!, 1e-3));
    const throughput = bestThroughput > 0 ? throughputOf(o) / bestThroughput : 1;
    rewards.set(
      o.uid,
      (weights.success + weights.latency * latency + weights.throughput * throughput) / total,
    );
  }
  return rewards;
}

/** Exponential moving average: the new score after observing `reward`. */
export function emaUpdate(previous: number | undefined, reward: number, alpha: number): number {
  if (!(alpha > 0 && alpha <= 1)) throw new RangeError('alpha must be in (0, 1]');
  return previous === undefined ? alpha * reward : alpha * reward + (1 - alpha) * previous;
}

/** Scores to normalised weights over the given uids (sum 1, or all zero when nobody scored). */
export function scoresToWeights(scores: Map<number, number>): { uids: number[]; weights: number[] } {
  const uids = [...scores.keys()].sort((a, b) => a - b);
  const raw = uids.map((uid) => Math.max(0, scores.get(uid) ?? 0));
  const sum = raw.reduce((a, b) => a + b, 0);
  return { uids, weights: sum > 0 ? raw.map((w) => w / sum) : raw.map(() => 0) };
}
