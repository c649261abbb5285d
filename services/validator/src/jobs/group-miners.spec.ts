import { groupMiners } from './chat-job.handler';

describe('groupMiners', () => {
  it('gives each answer its own miners when there are enough', () => {
    expect(groupMiners([1, 2, 3, 4], 2, 2)).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it('keeps answers on different miners rather than racing the same ones', () => {
    expect(groupMiners([1, 2], 2, 2)).toEqual([[1], [2]]);
    expect(groupMiners([1, 2, 3], 2, 2)).toEqual([[1], [2]]);
  });

  it('reuses miners only when there are fewer miners than answers', () => {
    expect(groupMiners([1, 2], 3, 2)).toEqual([[1], [2], [1]]);
  });

  it('never races more than perAnswer miners for one answer', () => {
    expect(groupMiners([1, 2, 3, 4, 5], 1, 2)).toEqual([[1, 2]]);
  });
});
