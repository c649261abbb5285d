import type { MetagraphSnapshot, SubnetGone } from '@chattensor/protocol';
import { supersedes } from './metagraph.publisher';

const snapshot = (block: number, registeredAt = 5): MetagraphSnapshot => ({
  v: 1,
  netuid: 2,
  mode: 'subtensor',
  block,
  blockHash: `0x${block}`,
  updatedAt: 0,
  neurons: [],
  hyperparameters: {},
  subnetRegisteredAt: registeredAt,
});
const gone = (block: number): SubnetGone => ({
  v: 1,
  netuid: 2,
  mode: 'subtensor',
  gone: 'reregistered',
  block,
  blockHash: `0x${block}`,
  updatedAt: 0,
});

describe('which KV entry may replace another (monotonic by block, lineage aware)', () => {
  it('takes a newer block, of either kind, and anything over nothing', () => {
    expect(supersedes(undefined, snapshot(1))).toBe(true);
    expect(supersedes(snapshot(10), snapshot(11))).toBe(true);
    expect(supersedes(snapshot(10), gone(11))).toBe(true);
    expect(supersedes(gone(10), snapshot(11, 11))).toBe(true);
  });

  it('never goes back, nor republishes the same block', () => {
    expect(supersedes(snapshot(10), snapshot(9))).toBe(false);
    expect(supersedes(snapshot(10), snapshot(10))).toBe(false);
    expect(supersedes(gone(10), gone(10))).toBe(false);
    expect(supersedes(gone(10), snapshot(9))).toBe(false);
  });

  it('lets the new lineage follow the tombstone of the old one within one block, not the other way round', () => {
    expect(supersedes(gone(10), snapshot(10, 10))).toBe(true);
    expect(supersedes(snapshot(10), gone(10))).toBe(false);
  });
});
