import { U16_MAX, WeightsError, conformWeights } from '@chattensor/bittensor';
import type { MetagraphSnapshot } from '@chattensor/protocol';

export type ConformedWeights =
  { ok: true; uids: number[]; weights: number[] } | { ok: false; reason: string };

/**
 * Normalised scores to the u16 weights the chain takes, as the current SDK
 * (bittensor 11.x `SetWeights`) conforms them: the subnet's MaxWeightsLimit
 * clip in float64, max-upscaling to 65535 with round-half-even, zeros dropped,
 * and a refusal ("nothing to set", too few weights for MinAllowedWeights)
 * instead of a vector the chain would reject.
 */
export function conformToSubnet(
  snapshot: MetagraphSnapshot,
  selfHotkey: string,
  uids: number[],
  weights: number[],
): ConformedWeights {
  const { maxWeightLimit, minAllowedWeights } = snapshot.hyperparameters;
  try {
    const conformed = conformWeights({
      uids,
      weights,
      maxWeightLimitU16: maxWeightLimit === undefined ? U16_MAX : Math.round(maxWeightLimit * U16_MAX),
      minAllowedWeights: minAllowedWeights ?? 0,
      selfUid: snapshot.neurons.find((n) => n.hotkey === selfHotkey)?.uid,
    });
    return { ok: true, ...conformed };
  } catch (error) {
    if (error instanceof WeightsError) return { ok: false, reason: error.message };
    throw error;
  }
}
