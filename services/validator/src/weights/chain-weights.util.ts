import { processWeights } from '@chattensor/bittensor';
import type { MetagraphSnapshot } from '@chattensor/protocol';

/**
 * Scores to the weights a validator submits, processed exactly as the
 * Python SDK's `process_weights_for_netuid` does with the subnet's
 * hyperparameters (min allowed weights, max weight limit; the chain-indexer
 * then converts them to u16 as `convert_weights_and_uids_for_emit`).
 * Returns undefined when nobody has a score yet: nothing worth setting.
 */
export function chainWeights(
  snapshot: Pick<MetagraphSnapshot, 'neurons' | 'hyperparameters'>,
  scores: { uid: number; score: number }[],
): { uids: number[]; weights: number[] } | undefined {
  if (!scores.some((s) => s.score > 0)) return undefined;
  const numNeurons = Math.max(snapshot.neurons.length, ...snapshot.neurons.map((n) => n.uid + 1));
  // Like a Python validator, pass a score for every uid of the subnet (0 for the unscored):
  // process_weights reads positions in this vector as uids when it pads to min allowed weights.
  const byUid = new Array<number>(numNeurons).fill(0);
  for (const s of scores) if (s.uid < numNeurons) byUid[s.uid] = Math.max(0, s.score);
  const processed = processWeights({
    uids: byUid.map((_, uid) => uid),
    weights: byUid,
    numNeurons,
    minAllowedWeights: snapshot.hyperparameters.minAllowedWeights ?? 0,
    maxWeightLimit: snapshot.hyperparameters.maxWeightLimit ?? 1,
  });
  return { uids: processed.uids, weights: processed.weights.values };
}
