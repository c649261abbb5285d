import { U16_MAX, roundHalfEven } from './weight-utils';

/**
 * Weights as the current Python SDK (bittensor 11.x, `bittensor.intents.weights`)
 * computes them before `set_weights` or a timelocked commit: plain Python
 * floats (float64) throughout, the max-weight clip only when the subnet's
 * limit is below 65535, max-upscaling to u16 with round-half-even, zeros
 * dropped, and "nothing to set" where every weight is zero. Python's built-in
 * `sum()` is a left-to-right float64 sum here (CPython up to 3.11; 3.12 and
 * later compensate the rounding, which can move a result by one unit in the
 * last place and, very rarely, a u16 by one).
 */

/** A refusal of the SDK's weight pipeline (its BittensorError / ChainError), with the SDK's message. */
export class WeightsError extends Error {
  constructor(
    readonly reason: 'nothing_to_set' | 'invalid' | 'too_few_weights',
    message: string,
  ) {
    super(message);
    this.name = 'WeightsError';
  }
}

const NOTHING_TO_SET = 'All weights are zero; nothing to set.';

function pySum(values: readonly number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/**
 * The SDK's `normalize`: max-upscale to u16 (round half to even) and drop
 * zeros. All-zero input gives two empty lists.
 */
export function sdkNormalizeWeights(uids: readonly number[], weights: readonly number[]): { uids: number[]; weights: number[] } {
  if (uids.length !== weights.length) throw new WeightsError('invalid', `uids and weights must be equal length: ${uids.length} vs ${weights.length}.`);
  if (weights.some((w) => !Number.isFinite(w) || w < 0)) throw new WeightsError('invalid', 'Weights must be finite and non-negative.');
  if (uids.some((u) => u < 0 || u > U16_MAX)) throw new WeightsError('invalid', 'UIDs must be in 0..65535.');
  let top = 0;
  if (weights.length > 0) {
    top = weights[0];
    for (const w of weights) if (w > top) top = w;
  }
  if (top === 0) return { uids: [], weights: [] };
  const outUids: number[] = [];
  const outWeights: number[] = [];
  uids.forEach((uid, i) => {
    const value = roundHalfEven((weights[i] / top) * U16_MAX);
    if (value !== 0) {
      outUids.push(uid);
      outWeights.push(value);
    }
  });
  return { uids: outUids, weights: outWeights };
}

/**
 * The SDK's `clip_to_max_weight`: normalises to sum 1 with no weight above
 * `limit`, redistributing the clipped mass. A limit no distribution can meet
 * (n * limit <= 1) gives the uniform distribution.
 */
export function sdkClipToMaxWeight(weights: readonly number[], limit: number): number[] {
  const n = weights.length;
  const total = pySum(weights);
  if (n === 0 || total <= 0) throw new WeightsError('nothing_to_set', NOTHING_TO_SET);
  if (n * limit <= 1) return weights.map(() => 1 / n);
  const estimation = weights.map((w) => w / total).sort((a, b) => a - b);
  if (estimation[n - 1] <= limit) return weights.map((w) => w / total);
  const epsilon = 1e-7;
  const cumsum: number[] = [];
  let running = 0;
  for (const e of estimation) cumsum.push((running += e));
  let nValues = 0;
  estimation.forEach((e, i) => {
    if (e / ((n - i - 1) * e + cumsum[i] + epsilon) < limit) nValues++;
  });
  // Python's cumsum[n_values - 1] reads the last element when n_values is 0.
  const cum = cumsum[nValues > 0 ? nValues - 1 : n - 1];
  const denominator = 1 - limit * (n - nValues);
  if (denominator === 0) throw new WeightsError('invalid', 'float division by zero');
  const cutoff = ((limit * cum - epsilon) / denominator) * total;
  const clipped = weights.map((w) => (cutoff < w ? cutoff : w));
  const clippedTotal = pySum(clipped);
  return clipped.map((w) => w / clippedTotal);
}

export interface ConformWeightsInput {
  uids: readonly number[];
  weights: readonly number[];
  /** The subnet's MaxWeightsLimit as the chain stores it (u16; 65535 means no limit). */
  maxWeightLimitU16: number;
  /** The subnet's MinAllowedWeights. */
  minAllowedWeights: number;
  /** The setter's own uid: a single weight on it is exempt from both limits, as on chain. */
  selfUid?: number;
}

/**
 * The SDK's `SetWeights` conforming step (`_as_pairs` then `_conform`): the
 * max-weight clip (float64) when the limit is below 65535, u16 quantisation,
 * then the refusals: every weight zero ("nothing to set") or fewer non-zero
 * weights than MinAllowedWeights.
 */
export function conformWeights(input: ConformWeightsInput): { uids: number[]; weights: number[] } {
  const uids = input.uids.map((u) => Math.trunc(u));
  if (new Set(uids).size !== uids.length) throw new WeightsError('invalid', 'Duplicate UIDs in weights; each UID may appear once.');
  if (uids.length !== input.weights.length) throw new WeightsError('invalid', `uids and weights must be equal length: ${uids.length} vs ${input.weights.length}.`);
  const isSelfWeight = uids.length === 1 && input.selfUid !== undefined && uids[0] === input.selfUid;
  let floats = input.weights.slice();
  if (!isSelfWeight && input.maxWeightLimitU16 < U16_MAX) floats = sdkClipToMaxWeight(floats, input.maxWeightLimitU16 / U16_MAX);
  const normalized = sdkNormalizeWeights(uids, floats);
  if (normalized.uids.length === 0) throw new WeightsError('nothing_to_set', NOTHING_TO_SET);
  if (!isSelfWeight && normalized.uids.length < input.minAllowedWeights) {
    throw new WeightsError(
      'too_few_weights',
      `requires at least ${input.minAllowedWeights} weights; only ${normalized.uids.length} are nonzero after normalization.`,
    );
  }
  return normalized;
}
