import { QUICKNET } from './quicknet';

/*
 * Which drand round to encrypt a weights commit to. The chain reveals a
 * timelocked commit in a fixed epoch after the commit epoch and needs the
 * round's pulse to be stored by then (pallet_drand ingests quicknet with a
 * short delay); a round later than that is never revealed, an earlier one
 * opens the weights to everyone before the reveal. So the round targets the
 * time of the reveal block, predicted as the Python SDK predicts it for that
 * runtime generation:
 *
 * - `crv3` (runtimes with `commit_crv3_weights`, e.g. spec 293; SDK 9 with
 *   bittensor-drand 0.5): reveal at the first block of epoch
 *   `current + reveal_period`, moved one epoch later while that is less than
 *   24 rounds (72 s) away; the round is 24 rounds before that time, rounded up.
 * - `tempo` (`commit_timelocked_weights`, epochs at `(block + netuid + 1) %
 *   (tempo + 1) == 0`; bittensor-drand 1.x): first block of epoch
 *   `current + reveal_period`, plus 3 blocks of margin, rounded down.
 * - `epoch-state` (runtimes that keep `LastEpochBlock` / `PendingEpochAt` /
 *   `SubnetEpochIndex`; SDK 10 with bittensor-drand 2): the reveal block found
 *   by replaying the chain's epoch schedule from the head, plus 3 blocks,
 *   rounded down.
 */

/** Rounds the CRv3-era SDK kept between the pulse and the reveal block. */
const CRV3_PULSE_DELAY = 24;
/** Blocks after the predicted reveal block whose time the round targets. */
const SECURITY_BLOCK_OFFSET = 3;
/** The commit lands in the block after the head it was computed from. */
const COMMIT_INCLUSION_BLOCK_OFFSET = 1;
/** The chain's upper bound on a subnet's tempo. */
const MAX_TEMPO = 50_400;

export interface TempoSchedule {
  netuid: number;
  tempo: number;
  /** The chain head the commit is computed from. */
  currentBlock: number;
  revealPeriodEpochs: number;
}

/** Subtensor's per-subnet epoch state at `currentBlock` (all read at that block). */
export interface EpochScheduleState {
  lastEpochBlock: number;
  /** Owner-triggered epoch block; 0 if none. */
  pendingEpochAt: number;
  subnetEpochIndex: number;
  tempo: number;
  blocksSinceLastStep: number;
  currentBlock: number;
}

export type RevealSchedule =
  | ({ model: 'crv3' } & TempoSchedule)
  | ({ model: 'tempo' } & TempoSchedule)
  | { model: 'epoch-state'; state: EpochScheduleState; revealPeriodEpochs: number };

export interface RevealTarget {
  /** The drand quicknet round to encrypt to. */
  round: number;
  /** The block the prediction is anchored on (reveal block, or the CRv3 epoch start). */
  revealBlock: number;
}

export class RevealScheduleError extends Error {}

/** Rust's `f64 as u64`: truncation toward zero, saturating at 0 for negatives and NaN. */
function asU64(x: number): number {
  return Number.isNaN(x) || x <= 0 ? 0 : Math.trunc(x);
}

function roundAtOrBefore(targetSeconds: number): number {
  return Math.max(1, asU64(Math.floor((targetSeconds - QUICKNET.genesisTime) / QUICKNET.periodSeconds)));
}

function epochStart(schedule: TempoSchedule, epoch: number): number {
  return Math.max(0, epoch * (schedule.tempo + 1) - (schedule.netuid + 1));
}

function currentEpoch(schedule: TempoSchedule): number {
  return Math.floor((schedule.currentBlock + schedule.netuid + 1) / (schedule.tempo + 1));
}

function shouldRunEpoch(state: EpochScheduleState, block: number): boolean {
  if (state.tempo === 0) return false;
  if (state.pendingEpochAt > 0 && block >= state.pendingEpochAt) return true;
  if (state.blocksSinceLastStep > MAX_TEMPO) return true;
  return Math.max(0, block - state.lastEpochBlock) >= state.tempo;
}

/** The epoch index the reveal step sees at `block` (it runs before the block's coinbase). */
function epochBeforeCoinbase(state: EpochScheduleState, block: number): number {
  return shouldRunEpoch(state, block) ? state.subnetEpochIndex + 1 : state.subnetEpochIndex;
}

function runCoinbase(state: EpochScheduleState, block: number): EpochScheduleState {
  const next = { ...state, blocksSinceLastStep: state.blocksSinceLastStep + 1, currentBlock: block };
  if (shouldRunEpoch(next, block)) {
    next.lastEpochBlock = block;
    next.pendingEpochAt = 0;
    next.subnetEpochIndex += 1;
    next.blocksSinceLastStep = 0;
  }
  return next;
}

/** The first block at which the chain reveals a commit sent against `head` (stateful epoch model). */
export function predictRevealBlock(head: EpochScheduleState, revealPeriodEpochs: number): number {
  if (head.tempo === 0) throw new RevealScheduleError('tempo is zero: the subnet runs no epochs');
  const extrinsicBlock = head.currentBlock + COMMIT_INCLUSION_BLOCK_OFFSET;
  let state = head;
  for (let b = head.currentBlock + 1; b < extrinsicBlock; b++) state = runCoinbase(state, b);
  const target = epochBeforeCoinbase(state, extrinsicBlock) + revealPeriodEpochs;
  const budget = revealPeriodEpochs * MAX_TEMPO + MAX_TEMPO;
  for (let b = extrinsicBlock; b <= extrinsicBlock + budget; b++) {
    if (epochBeforeCoinbase(state, b) === target) return b;
    state = runCoinbase(state, b);
  }
  throw new RevealScheduleError('no reveal block within the simulation budget');
}

/**
 * The round to encrypt to and the block it was anchored on. `nowSeconds` is
 * wall-clock time when the head was read; `blockTimeSeconds` the chain's
 * block time (12 s on Finney).
 */
export function revealTarget(
  schedule: RevealSchedule,
  blockTimeSeconds: number,
  nowSeconds = Date.now() / 1000,
): RevealTarget {
  switch (schedule.model) {
    case 'crv3': {
      let epoch = currentEpoch(schedule) + schedule.revealPeriodEpochs;
      let revealBlock = epochStart(schedule, epoch);
      let secondsUntil = Math.max(0, revealBlock - schedule.currentBlock) * blockTimeSeconds;
      while (secondsUntil < CRV3_PULSE_DELAY * QUICKNET.periodSeconds) {
        epoch += 1;
        revealBlock = epochStart(schedule, epoch);
        secondsUntil = Math.max(0, revealBlock - schedule.currentBlock) * blockTimeSeconds;
      }
      const round = Math.ceil((nowSeconds + secondsUntil - QUICKNET.genesisTime) / QUICKNET.periodSeconds);
      return { round: Math.max(1, round - CRV3_PULSE_DELAY), revealBlock };
    }
    case 'tempo': {
      const revealBlock = epochStart(schedule, currentEpoch(schedule) + schedule.revealPeriodEpochs);
      const blocks = Math.max(0, revealBlock + SECURITY_BLOCK_OFFSET - schedule.currentBlock);
      return { round: roundAtOrBefore(nowSeconds + blocks * blockTimeSeconds), revealBlock };
    }
    case 'epoch-state': {
      const revealBlock = predictRevealBlock(schedule.state, schedule.revealPeriodEpochs);
      const blocks = Math.max(0, revealBlock + SECURITY_BLOCK_OFFSET - schedule.state.currentBlock);
      return { round: roundAtOrBefore(nowSeconds + blocks * blockTimeSeconds), revealBlock };
    }
  }
}
