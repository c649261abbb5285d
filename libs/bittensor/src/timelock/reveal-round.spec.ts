import {
  RevealScheduleError,
  predictRevealBlock,
  revealTarget,
  type EpochScheduleState,
} from './reveal-round';

const GENESIS = 1_692_803_367;

function state(over: Partial<EpochScheduleState>): EpochScheduleState {
  return {
    lastEpochBlock: 10,
    pendingEpochAt: 0,
    subnetEpochIndex: 0,
    tempo: 50,
    blocksSinceLastStep: 0,
    currentBlock: 10,
    ...over,
  };
}

describe('the stateful epoch model (runtimes with SubnetEpochIndex)', () => {
  it('reveals one tempo after the last epoch when nothing is pending', () => {
    expect(predictRevealBlock(state({}), 1)).toBe(60);
    expect(predictRevealBlock(state({}), 2)).toBe(110);
  });

  it('lets a pending owner-triggered epoch fire before the automatic one', () => {
    expect(
      predictRevealBlock(state({ lastEpochBlock: 80, pendingEpochAt: 95, tempo: 20, currentBlock: 91 }), 1),
    ).toBe(95);
  });

  it('refuses a subnet whose tempo is zero', () => {
    expect(() => predictRevealBlock(state({ tempo: 0 }), 1)).toThrow(RevealScheduleError);
  });

  it('targets the round covering three blocks after the reveal block, rounded down', () => {
    const s = state({});
    // Reveal block 60, target block 63: 53 blocks of 12 s after `now`.
    const now = GENESIS + 3 * 1_000_000;
    expect(revealTarget({ model: 'epoch-state', state: s, revealPeriodEpochs: 1 }, 12, now)).toEqual({
      revealBlock: 60,
      round: 1_000_000 + 212,
    });
    expect(revealTarget({ model: 'epoch-state', state: s, revealPeriodEpochs: 1 }, 12, now + 2.9).round).toBe(
      1_000_212,
    );
    expect(revealTarget({ model: 'epoch-state', state: s, revealPeriodEpochs: 1 }, 12, now + 3).round).toBe(
      1_000_213,
    );
  });
});

describe('the tempo model (commit_timelocked_weights before the stateful epochs)', () => {
  it('aims at the first block of epoch current + reveal period, plus three blocks', () => {
    // netuid 1, tempo 99: epochs start where (block + 2) % 100 == 0; block 250 is in epoch 2, so epoch 3 starts at 298.
    const target = revealTarget(
      { model: 'tempo', netuid: 1, tempo: 99, currentBlock: 250, revealPeriodEpochs: 1 },
      12,
      GENESIS + 30,
    );
    expect(target.revealBlock).toBe(298);
    expect(target.round).toBe(Math.floor((30 + (301 - 250) * 12) / 3));
  });
});

describe('the CRv3 model (commit_crv3_weights, spec 293)', () => {
  it('locks to 24 rounds before the reveal epoch starts', () => {
    const target = revealTarget(
      { model: 'crv3', netuid: 1, tempo: 99, currentBlock: 250, revealPeriodEpochs: 1 },
      12,
      GENESIS + 30,
    );
    expect(target.revealBlock).toBe(298);
    expect(target.round).toBe(Math.ceil((30 + 48 * 12) / 3) - 24);
  });

  it('moves to the next epoch when the reveal would come within 72 seconds', () => {
    // Block 293 is 5 blocks (60 s) before 298: too close, so epoch 4 (block 398) is used.
    const target = revealTarget(
      { model: 'crv3', netuid: 1, tempo: 99, currentBlock: 293, revealPeriodEpochs: 1 },
      12,
      GENESIS + 30,
    );
    expect(target.revealBlock).toBe(398);
    expect(target.round).toBe(Math.ceil((30 + 105 * 12) / 3) - 24);
  });
});
