import { Xoshiro128 } from '../generator/prng';

/**
 * Logits further than this below the top one, in units of the temperature,
 * count as probability 0: each weighs under e^-30 (1e-13) of the top token, a
 * whole 49 152-token vocabulary at the cut-off under 5e-9 of it, so leaving
 * them out changes a draw at most about once in 2 * 10^8 tokens, in practice
 * far more rarely. Skipping exp() there makes a sampled step cheaper, the
 * more so the lower the temperature: on SmolLM2 at 0.2 (its default) about a
 * hundred of the 49 152 logits are left, at 0.8 most of them. The sampler and
 * the verifier (reference-model.ts) both go through unnormalisedProbs(), so
 * both see the same distribution.
 */
const SAMPLED_CUTOFF = 30;

export interface SamplerSettings {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
  presencePenalty: number;
  frequencyPenalty: number;
  seed: number;
}

/**
 * Picks the next token of one sequence from its logits. Penalties follow the
 * usual definitions: repetition penalty (CTRL / Hugging Face) over prompt and
 * output tokens, presence and frequency penalties (OpenAI) over output tokens
 * only. Temperature 0 means greedy decoding.
 */
export class TokenSampler {
  private readonly rng: Xoshiro128;
  private readonly outputCounts = new Map<number, number>();
  private readonly seen: Set<number>;
  private scratch = new Float32Array(0);
  private indices = new Int32Array(0);

  constructor(
    private readonly settings: SamplerSettings,
    promptIds: readonly number[],
  ) {
    this.rng = new Xoshiro128(settings.seed);
    this.seen = new Set(settings.repetitionPenalty !== 1 ? promptIds : []);
  }

  get greedy(): boolean {
    return this.settings.temperature <= 0;
  }

  /** Records a generated token so that penalties see it. */
  accept(id: number): void {
    this.outputCounts.set(id, (this.outputCounts.get(id) ?? 0) + 1);
    if (this.settings.repetitionPenalty !== 1) this.seen.add(id);
  }

  /** Samples from `logits` (one row, modified in place). */
  sample(logits: Float32Array): number {
    this.penalize(logits);
    if (this.greedy) return argmax(logits);
    const { temperature, topK, topP, minP } = this.settings;
    const vocab = logits.length;
    if (this.scratch.length < vocab) {
      this.scratch = new Float32Array(vocab);
      this.indices = new Int32Array(vocab);
    }
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) if (logits[i] > max) max = logits[i];
    const probs = this.scratch;
    const total = unnormalisedProbs(logits, max, temperature, probs);
    // The most likely token has unnormalised probability 1 (it was the max),
    // so min-p is a plain threshold on these values.
    const minKeep = minP > 0 ? minP : 0;
    if (topK <= 0 && topP >= 1) {
      let mass = 0;
      for (let i = 0; i < vocab; i++) if (probs[i] >= minKeep) mass += probs[i];
      let draw = this.rng.nextFloat() * mass;
      let last = 0;
      for (let i = 0; i < vocab; i++) {
        if (probs[i] < minKeep) continue;
        last = i;
        draw -= probs[i];
        if (draw < 0) return i;
      }
      return last;
    }
    const indices = this.indices;
    const kept = keptByTopKTopP(probs, vocab, total, topK, topP, minKeep, indices);
    let keptMass = 0;
    for (let i = 0; i < kept; i++) keptMass += probs[indices[i]];
    let draw = this.rng.nextFloat() * keptMass;
    for (let i = 0; i < kept; i++) {
      draw -= probs[indices[i]];
      if (draw < 0) return indices[i];
    }
    return indices[kept - 1];
  }

  /** Applies the repetition, presence and frequency penalties of the tokens seen so far to `logits` (in place). */
  penalize(logits: Float32Array): void {
    const { repetitionPenalty, presencePenalty, frequencyPenalty } = this.settings;
    if (repetitionPenalty !== 1) {
      for (const id of this.seen) {
        const value = logits[id];
        logits[id] = value > 0 ? value / repetitionPenalty : value * repetitionPenalty;
      }
    }
    if (presencePenalty !== 0 || frequencyPenalty !== 0) {
      for (const [id, count] of this.outputCounts) logits[id] -= presencePenalty + frequencyPenalty * count;
    }
  }
}

/**
 * Writes exp((logit - max) / temperature) of every logit into `probs`, 0 more
 * than SAMPLED_CUTOFF temperature-units below `max` (the top logit, which gets
 * 1), and returns their sum: the unnormalised distribution the sampler draws
 * from and the verifier checks against.
 */
export function unnormalisedProbs(logits: Float32Array, max: number, temperature: number, probs: Float32Array): number {
  let total = 0;
  const cutoff = max - SAMPLED_CUTOFF * temperature;
  for (let i = 0; i < logits.length; i++) {
    const logit = logits[i];
    const p = logit < cutoff ? 0 : Math.exp((logit - max) / temperature);
    probs[i] = p;
    total += p;
  }
  return total;
}

/**
 * The tokens that top-k and then top-p keep (as in Hugging Face, top-p applies
 * to the distribution left by top-k), among those at or above `minKeep` (min-p
 * as a threshold on probabilities unnormalised so that the top token weighs 1),
 * from the unnormalised probabilities `probs[0..vocab)` summing to `total`.
 * Writes them into `indices`, most probable first (ties: lower id first), and
 * returns how many. The sampler draws from this set and the verifier checks a
 * returned token against it, so both use this one function.
 */
export function keptByTopKTopP(
  probs: Float32Array,
  vocab: number,
  total: number,
  topK: number,
  topP: number,
  minKeep: number,
  indices: Int32Array,
): number {
  // Rather than sorting the whole vocabulary, gather the tokens above a
  // probability floor, lowering the floor until they provably contain the
  // top-k set or the top-p nucleus.
  let count = 0;
  for (const floor of [1e-3, 1e-5, 1e-8, 0]) {
    const effective = Math.max(floor, minKeep);
    count = 0;
    let mass = 0;
    for (let i = 0; i < vocab; i++) {
      if (probs[i] >= effective) {
        indices[count++] = i;
        mass += probs[i];
      }
    }
    if (effective === minKeep || (topK > 0 ? count >= topK : mass >= topP * total)) break;
  }
  // A top-k set among many candidates (a flat distribution lowered the floor) is selected, not sorted whole.
  if (topK > 0 && count > 4 * topK + 64) {
    selectFirst(indices, count, topK, probs);
    count = topK;
  }
  const candidates = Array.from(indices.subarray(0, count)).sort((a, b) => probs[b] - probs[a] || a - b);
  let kept = topK > 0 ? Math.min(candidates.length, topK) : candidates.length;
  if (topP < 1) {
    let keptMass = topK > 0 ? 0 : total;
    if (topK > 0) for (let i = 0; i < kept; i++) keptMass += probs[candidates[i]];
    let cumulative = 0;
    for (let i = 0; i < kept; i++) {
      cumulative += probs[candidates[i]];
      if (cumulative >= topP * keptMass) {
        kept = i + 1;
        break;
      }
    }
  }
  for (let i = 0; i < kept; i++) indices[i] = candidates[i];
  return kept;
}

/**
 * Moves the `k` most probable of `indices[0..count)` (ties: lower id first, the sampler's order)
 * to its front, in no particular order: a quickselect, linear on average.
 */
function selectFirst(indices: Int32Array, count: number, k: number, probs: Float32Array): void {
  const before = (a: number, b: number): boolean => probs[a] > probs[b] || (probs[a] === probs[b] && a < b);
  let lo = 0;
  let hi = count - 1;
  while (lo < hi) {
    const pivot = indices[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (before(indices[i], pivot)) i++;
      while (before(pivot, indices[j])) j--;
      if (i <= j) {
        const t = indices[i];
        indices[i] = indices[j];
        indices[j] = t;
        i++;
        j--;
      }
    }
    if (k - 1 <= j) hi = j;
    else if (k - 1 >= i) lo = i;
    else return;
  }
}

export function argmax(values: Float32Array): number {
  let best = 0;
  let bestValue = values[0];
  for (let i = 1; i < values.length; i++) {
    if (values[i] > bestValue) {
      bestValue = values[i];
      best = i;
    }
  }
  return best;
}
