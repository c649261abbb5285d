import { epochIndex, nextEligibleBlock, revealWindow } from './weights-window.util';

describe('weights block arithmetic', () => {
  it('never rate-limits a uid that has not set weights yet', () => {
    expect(nextEligibleBlock(0, 100, 5)).toBeUndefined();
  });

  it('defers until last update plus the rate limit, as check_rate_limit does', () => {
    expect(nextEligibleBlock(50, 100, 149)).toBe(150);
    expect(nextEligibleBlock(50, 100, 150)).toBeUndefined();
  });

  it('places the reveal window in the epoch after the commit for a period of one', () => {
    // netuid 2, tempo 10: epochs start where (block + 3) is a multiple of 11.
    expect(epochIndex(2, 10, 8)).toBe(1);
    expect(revealWindow(2, 10, 1, 8)).toEqual({ firstBlock: 19, lastBlock: 29 });
    expect(epochIndex(2, 10, 19)).toBe(2);
    expect(epochIndex(2, 10, 29)).toBe(2);
    expect(epochIndex(2, 10, 30)).toBe(3);
  });
});
