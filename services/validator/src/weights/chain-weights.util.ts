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
  const scored = [...scores].sort((a, b) => a.uid - b.uid);
  if (!scored.some((s) => s.score > 0)) return undefined;
  const numNeurons = Math.max(snapshot.neurons.length, ...snapshot.neurons.map((n) => n.uid + 1));
  const processed = processWeights({
    uids: scored.map((s) => s.uid),
    weights: scored.map((s) => Math.max(0, s.score)),
    numNeurons,
    minAllowedWeights: snapshot.hyperparameters.minAllowedWeights ?? 0,
    maxWeightLimit: snapshot.hyperparameters.maxWeightLimit ?? 1,
  });
  return { uids: processed.uids, weights: processed.weights.values };
}
