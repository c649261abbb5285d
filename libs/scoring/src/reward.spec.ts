import { emaUpdate, rewardOutcomes, scoresToWeights, type MinerOutcome } from './reward';

const answer = (uid: number, ttft: number, duration: number, tokens = 10): MinerOutcome => ({
  uid,
  completed: true,
  text: 'some text',
  completionTokens: tokens,
  timeToFirstToken: ttft,
  duration,
});

describe('rewardOutcomes', () => {
  it('gives the fastest complete answer the full reward', () => {
    const rewards = rewardOutcomes([answer(1, 0.1, 1), answer(2, 0.2, 2)]);
    expect(rewards.get(1)).toBeCloseTo(1);
    expect(rewards.get(2)).toBeLessThan(rewards.get(1)!);
    expect(rewards.get(2)).toBeGreaterThan(0.5);
  });

  it('gives nothing to a failed, empty or silent answer', () => {
    const rewards = rewardOutcomes([
      answer(1, 0.1, 1),
      { ...answer(2, 0.1, 1), completed: false },
      { ...answer(3, 0.1, 1), text: '' },
      { uid: 4, completed: true, text: 'x', completionTokens: 1 },
    ]);
    expect([rewards.get(2), rewards.get(3), rewards.get(4)]).toEqual([0, 0, 0]);
  });

  it('rewards a lone good answer fully', () => {
    expect(rewardOutcomes([answer(7, 3, 9)]).get(7)).toBeCloseTo(1);
  });
});

describe('emaUpdate', () => {
  it('moves the score towards the reward by alpha', () => {
    expect(emaUpdate(0.5, 1, 0.1)).toBeCloseTo(0.55);
    expect(emaUpdate(undefined, 1, 0.1)).toBeCloseTo(0.1);
  });

  it('rejects an alpha outside (0, 1]', () => {
    expect(() => emaUpdate(0, 1, 0)).toThrow(RangeError);
    expect(() => emaUpdate(0, 1, 1.5)).toThrow(RangeError);
  });
});

describe('scoresToWeights', () => {
  it('normalises scores to weights that sum to one, sorted by uid', () => {
    expect(
      scoresToWeights(
        new Map([
          [3, 1],
          [1, 3],
        ]),
      ),
    ).toEqual({ uids: [1, 3], weights: [0.75, 0.25] });
  });

  it('returns zero weights when nobody has scored', () => {
    expect(scoresToWeights(new Map([[0, 0]]))).toEqual({ uids: [0], weights: [0] });
  });
});
