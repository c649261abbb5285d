import type { Tolerances } from '@chattensor/inference';

/**
 * Measured on the default model (SmolLM2-135M-Instruct, the Q4_1 import as
 * reference) by `npm run bench:validator -- --tolerances` (docs/verification.md):
 * above the largest deviation of every honest form of the published model
 * (the import and llama.cpp on Q4_1, float32, int8, Q8_0, Q4_K_M) by 1.5
 * times or more, and of the generated test models' int4 miners, far below
 * what random and foreign answers show.
 */
export const DEFAULT_TOLERANCES: Tolerances = {
  greedyLogitGap: 5,
  greedyMeanGap: 1,
  samplingLogitSlack: 6.5,
  logprobZ: 12,
  logprobMinTokens: 16,
};
