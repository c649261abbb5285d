/**
 * Subtensor's block arithmetic for weights, as the pallet computes it
 * (`check_rate_limit`, `get_epoch_index`, `get_reveal_blocks`).
 */

/**
 * The first block at which a weights extrinsic of this uid is accepted, or
 * undefined when it is accepted at `nextBlock` already. `lastUpdate` 0 means
 * never set, which the chain never rate-limits.
 */
export function nextEligibleBlock(
  lastUpdate: number,
  rateLimit: number,
  nextBlock: number,
): number | undefined {
  if (lastUpdate === 0) return undefined;
  const eligible = lastUpdate + rateLimit;
  return nextBlock >= eligible ? undefined : eligible;
}

export function epochIndex(netuid: number, tempo: number, block: number): number {
  return Math.floor((block + netuid + 1) / (tempo + 1));
}

/** The blocks in which a commit made at `commitBlock` must be revealed. */
export function revealWindow(
  netuid: number,
  tempo: number,
  revealPeriodEpochs: number,
  commitBlock: number,
): { firstBlock: number; lastBlock: number } {
  const revealEpoch = epochIndex(netuid, tempo, commitBlock) + revealPeriodEpochs;
  const firstBlock = Math.max(0, revealEpoch * (tempo + 1) - (netuid + 1));
  return { firstBlock, lastBlock: firstBlock + tempo };
}
