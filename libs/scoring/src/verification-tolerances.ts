import type { Tolerances } from '@chattensor/inference';

/**
 * Measured across quantizations by `npm run bench:validator -- --tolerances`
 * (docs/verification.md): above the largest deviation an honest float32,
 * int8 or 4-bit miner showed, far below what cheaters showed.
 */
export const DEFAULT_TOLERANCES: Tolerances = {
  greedyLogitGap: 5,
  greedyMeanGap: 2,
  samplingLogitSlack: 8,
  logprobZ: 20,
  logprobMinTokens: 16,
};
