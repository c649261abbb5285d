import { DEFAULT_SPEED_CURVE, speedTerms, verifiedReward } from './verified-reward';
import type { MinerOutcome } from './reward';

const answer = (timeToFirstToken: number, tokensPerSecond: number, tokens = 33): MinerOutcome => ({
  uid: 1,
  completed: true,
  text: 'an answer',
  completionTokens: tokens,
  timeToFirstToken,
  duration: timeToFirstToken + (tokens - 1) / tokensPerSecond,
});

describe('verifiedReward', () => {
  it('pays nothing for an answer that failed verification, however fast', () => {
    expect(verifiedReward(answer(0.01, 1000), 0, 20)).toBe(0);
  });

  it('pays nothing for an unfinished or empty answer', () => {
    expect(verifiedReward({ ...answer(0.1, 50), completed: false }, 1, 20)).toBe(0);
    expect(verifiedReward({ ...answer(0.1, 50), text: '' }, 1, 20)).toBe(0);
  });

  it('pays equally fast miners the same, so equals share the weight', () => {
    expect(verifiedReward(answer(0.3, 40), 1, 50)).toBe(verifiedReward(answer(0.3, 40), 1, 50));
  });

  it('pays more for speed, but twice as fast earns less than twice as much', () => {
    const slow = verifiedReward(answer(1, 20), 1, 0);
    const fast = verifiedReward(answer(0.5, 40), 1, 0);
    expect(fast).toBeGreaterThan(slow);
    expect(fast).toBeLessThan(2 * slow);
    // At the curve's reference point both terms are one half.
    expect(slow).toBeCloseTo(DEFAULT_SPEED_CURVE.base + (1 - DEFAULT_SPEED_CURVE.base) * 0.5, 6);
  });

  it('allows a longer time to first token for a longer prompt', () => {
    expect(speedTerms(answer(1.5, 20), 500).latency).toBeCloseTo(0.5, 6);
    expect(speedTerms(answer(1.5, 20), 0).latency).toBeLessThan(0.5);
  });

  it('stays within [base, 1] for any verified answer', () => {
    for (const [ttft, rate] of [
      [0.001, 1e6],
      [100, 0.01],
    ]) {
      const reward = verifiedReward(answer(ttft, rate), 1, 10);
      expect(reward).toBeGreaterThanOrEqual(DEFAULT_SPEED_CURVE.base);
      expect(reward).toBeLessThanOrEqual(1);
    }
  });
});
