import { compactToU8a, u8aConcat, u8aToHex } from '@polkadot/util';
import { blake2AsU8a, decodeAddress } from '@polkadot/util-crypto';

export const U16_MAX = 65535;

/**
 * Float scores to on-chain u16 weights, bit for bit as the Python SDK's
 * `bittensor.utils.weight_utils` computes them with numpy 2 (NEP 50
 * promotion). numpy does the work in float32 (or float64 in one branch), so
 * every operation here rounds to the array's precision exactly where numpy
 * does, sums pairwise as numpy's `add.reduce` does, and compares Python
 * float constants after casting them to the array's precision.
 */

/** An array's precision and its rounding. */
export type Dtype = 'float32' | 'float64';

export interface FloatArray {
  dtype: Dtype;
  values: number[];
}

function rounder(dtype: Dtype): (x: number) => number {
  return dtype === 'float32' ? Math.fround : (x) => x;
}

/** numpy's pairwise summation (`pairwise_sum` in loops_utils), which `ndarray.sum()` uses on a contiguous array. */
export function numpySum(values: readonly number[], dtype: Dtype): number {
  const r = rounder(dtype);
  const pairwise = (start: number, n: number): number => {
    if (n < 8) {
      let res = -0;
      for (let i = 0; i < n; i++) res = r(res + values[start + i]);
      return res;
    }
    if (n <= 128) {
      const acc = values.slice(start, start + 8);
      let i = 8;
      for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) acc[j] = r(acc[j] + values[start + i + j]);
      let res = r(r(r(acc[0] + acc[1]) + r(acc[2] + acc[3])) + r(r(acc[4] + acc[5]) + r(acc[6] + acc[7])));
      for (; i < n; i++) res = r(res + values[start + i]);
      return res;
    }
    let n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return r(pairwise(start, n2) + pairwise(start + n2, n - n2));
  };
  // add.reduce starts from the identity and adds the pairwise sum of all elements.
  return r(0 + pairwise(0, values.length));
}

/** The SDK's `normalize_max_weight`: normalises to sum 1 while capping any weight at `limit`. */
export function normalizeMaxWeight(x: FloatArray, limit = 0.1): FloatArray {
  const { dtype } = x;
  const r = rounder(dtype);
  const n = x.values.length;
  const epsilon = r(1e-7);
  const limitT = r(limit);
  const weights = x.values.slice();
  const values = x.values.slice().sort((a, b) => a - b);
  const total = numpySum(x.values, dtype);
  if (total === 0 || n * limit <= 1) return { dtype, values: weights.map(() => r(1 / n)) };

  const valuesSum = numpySum(values, dtype);
  const estimation = values.map((v) => r(v / valuesSum));
  if (Math.max(...estimation) <= limitT) {
    const wsum = numpySum(weights, dtype);
    return { dtype, values: weights.map((w) => r(w / wsum)) };
  }
  const cumsum: number[] = [];
  let running = 0;
  for (const e of estimation) cumsum.push((running = r(running + e)));
  const estimationSum = estimation.map((e, i) => r((n - i - 1) * e));
  let nValues = 0;
  for (let i = 0; i < n; i++) {
    const denom = r(r(estimationSum[i] + cumsum[i]) + epsilon);
    if (r(estimation[i] / denom) < limitT) nValues++;
  }
  // Python's cumsum[n_values - 1] reads the last element when n_values is 0.
  const cum = cumsum[nValues - 1 >= 0 ? nValues - 1 : n + (nValues - 1)];
  const numerator = r(r(limitT * cum) - epsilon);
  // `len - n_values` is a numpy int64, so the denominator is a numpy float64
  // (not a weak Python float): the cutoff is computed and compared in float64
  // and only rounded to the array's precision when stored into it.
  const denominator = 1 - limit * (n - nValues);
  const cutoffScale = numerator / denominator;
  const cutoff = cutoffScale * valuesSum;
  const capped = weights.map((w) => (w > cutoff ? r(cutoff) : w));
  const csum = numpySum(capped, dtype);
  return { dtype, values: capped.map((w) => r(w / csum)) };
}

/** numpy's `quantile(a, q)` with the default 'linear' method, for a Python float q, on a float32 array. */
export function numpyQuantileF32(a: readonly number[], q: number): number {
  const sorted = a.slice().sort((x, y) => x - y);
  const n = sorted.length;
  const virtual = (n - 1) * q;
  let prev = Math.floor(virtual);
  let next = prev + 1;
  if (virtual >= n - 1) prev = next = n - 1;
  if (virtual < 0) prev = next = 0;
  const gamma = virtual - Math.floor(virtual);
  const lo = sorted[prev];
  const hi = sorted[next];
  const diff = Math.fround(hi - lo);
  // numpy's _lerp: a + d*t, or b - d*(1-t) where t >= 0.5; the float t is cast to float32 first.
  if (gamma >= 0.5) return Math.fround(hi - Math.fround(diff * Math.fround(1 - gamma)));
  return Math.fround(lo + Math.fround(diff * Math.fround(gamma)));
}

export interface ProcessWeightsInput {
  uids: readonly number[];
  /** Scores per uid (any non-negative floats; cast to float32 as the SDK does). */
  weights: readonly number[];
  /** The metagraph's n. */
  numNeurons: number;
  /** The subnet's MinAllowedWeights hyperparameter. */
  minAllowedWeights: number;
  /** The subnet's max weight limit as a float (MaxWeightsLimit / 65535), as `subtensor.max_weight_limit` returns it. */
  maxWeightLimit: number;
  /** The share of lowest weights to drop, as a u16 (0 to 65535). */
  excludeQuantile?: number;
}

export interface ProcessedWeights {
  uids: number[];
  weights: FloatArray;
}

/**
 * The SDK's `process_weights` (what `process_weights_for_netuid` does once it
 * has fetched n, min_allowed_weights and max_weight_limit from the chain).
 */
export function processWeights(input: ProcessWeightsInput): ProcessedWeights {
  const { uids, numNeurons, minAllowedWeights, maxWeightLimit } = input;
  if (uids.length !== input.weights.length) throw new Error(`uids and weights differ in length (${uids.length} and ${input.weights.length})`);
  const weights = input.weights.map(Math.fround);
  const quantile = (input.excludeQuantile ?? 0) / U16_MAX;
  const nonZeroIdx = weights.flatMap((w, i) => (w > 0 ? [i] : []));
  let nzUids = nonZeroIdx.map((i) => uids[i]);
  let nzWeights = nonZeroIdx.map((i) => weights[i]);

  if (nzWeights.length === 0 || numNeurons < minAllowedWeights) {
    return { uids: range(numNeurons), weights: { dtype: 'float64', values: range(numNeurons).map(() => 1 / numNeurons) } };
  }
  if (nzWeights.length < minAllowedWeights) {
    // numpy builds this array from int64 ones times a Python float: float64 from here on.
    const padded = range(numNeurons).map(() => 1e-5);
    for (const i of nonZeroIdx) {
      if (i >= numNeurons) throw new Error(`weight index ${i} is beyond the ${numNeurons} neurons`);
      padded[i] = padded[i] + weights[i];
    }
    const normalized = normalizeMaxWeight({ dtype: 'float64', values: padded }, maxWeightLimit);
    return { uids: range(normalized.values.length), weights: normalized };
  }

  const maxExclude = Math.max(0, nzWeights.length - minAllowedWeights) / nzWeights.length;
  const excludeQuantile = Math.min(quantile, maxExclude);
  const lowest = numpyQuantileF32(nzWeights, excludeQuantile);
  const keep = nzWeights.map((w) => lowest <= w);
  nzUids = nzUids.filter((_, i) => keep[i]);
  nzWeights = nzWeights.filter((_, i) => keep[i]);
  return { uids: nzUids, weights: normalizeMaxWeight({ dtype: 'float32', values: nzWeights }, maxWeightLimit) };
}

/** Python's `round()` on a float: nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The SDK's `convert_weights_and_uids_for_emit`: max-upscales the weights so
 * the largest is 65535, rounds half to even, and drops zeros.
 */
export function convertWeightsAndUidsForEmit(uids: readonly number[], weights: readonly number[]): { uids: number[]; weights: number[] } {
  if (weights.length === 0 || uids.length === 0) throw new Error('weights and uids must not be empty');
  if (Math.min(...weights) < 0) throw new Error('Passed weight is negative cannot exist on chain');
  if (Math.min(...uids) < 0) throw new Error('Passed uid is negative cannot exist on chain');
  if (uids.length !== weights.length) throw new Error(`Passed weights and uids must have the same length, got ${uids.length} and ${weights.length}`);
  // Python's built-in sum() over floats: sequential, in double precision.
  let total = 0;
  for (const w of weights) total += w;
  if (total === 0) return { uids: [], weights: [] };
  const maxWeight = Math.max(...weights);
  const outUids: number[] = [];
  const outWeights: number[] = [];
  weights.forEach((w, i) => {
    const value = roundHalfEven((w / maxWeight) * U16_MAX);
    if (value !== 0) {
      outWeights.push(value);
      outUids.push(uids[i]);
    }
  });
  return { uids: outUids, weights: outWeights };
}

/** Scores straight to what `set_weights` sends: `process_weights` then `convert_weights_and_uids_for_emit`. */
export function scoresToU16Weights(input: ProcessWeightsInput): { uids: number[]; weights: number[] } {
  const processed = processWeights(input);
  return convertWeightsAndUidsForEmit(processed.uids, processed.weights.values);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function u16Vec(values: readonly number[]): Uint8Array {
  const body = new Uint8Array(values.length * 2);
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > U16_MAX) throw new Error(`not a u16: ${v}`);
    body[2 * i] = v & 0xff;
    body[2 * i + 1] = v >> 8;
  });
  return u8aConcat(compactToU8a(values.length), body);
}

export interface WeightCommit {
  /** The committing hotkey, SS58. */
  hotkey: string;
  netuid: number;
  uids: readonly number[];
  weights: readonly number[];
  versionKey: bigint | number;
  /** Random u16 values kept secret until the reveal. */
  salt: readonly number[];
}

/**
 * The SDK's `generate_weight_hash` for commit-reveal: blake2b-256 over the
 * SCALE encoding of (hotkey public key, netuid u16, Vec<u16> uids,
 * Vec<u16> weights, Vec<u16> salt, version_key u64).
 */
export function generateWeightHash(commit: WeightCommit): string {
  const netuid = new Uint8Array(2);
  new DataView(netuid.buffer).setUint16(0, commit.netuid, true);
  const versionKey = new Uint8Array(8);
  new DataView(versionKey.buffer).setBigUint64(0, BigInt(commit.versionKey), true);
  const data = u8aConcat(decodeAddress(commit.hotkey), netuid, u16Vec(commit.uids), u16Vec(commit.weights), u16Vec(commit.salt), versionKey);
  return u8aToHex(blake2AsU8a(data, 256));
}
