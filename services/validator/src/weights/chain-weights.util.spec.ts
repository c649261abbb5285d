import type { Neuron } from '@chattensor/protocol';
import { chainWeights } from './chain-weights.util';

const neuron = (uid: number): Neuron => ({
  uid,
  hotkey: `hk${uid}`,
  stake: 0,
  validatorPermit: false,
  active: true,
  axon: null,
  role: 'miner',
});

describe('chainWeights', () => {
  const neurons = [0, 1, 2, 3].map(neuron);

  it('sets nothing while no miner has a score', () => {
    expect(chainWeights({ neurons, hyperparameters: {} }, [{ uid: 1, score: 0 }])).toBeUndefined();
  });

  it('normalises the scores and leaves out miners with none, without a max weight limit', () => {
    const result = chainWeights({ neurons, hyperparameters: {} }, [
      { uid: 2, score: 0.3 },
      { uid: 1, score: 0.1 },
      { uid: 3, score: 0 },
    ])!;
    expect(result.uids).toEqual([1, 2]);
    expect(result.weights[0]).toBeCloseTo(0.25, 6);
    expect(result.weights[1]).toBeCloseTo(0.75, 6);
  });

  it('caps one miner at the subnet max weight limit, as the SDK does', () => {
    const result = chainWeights({ neurons, hyperparameters: { maxWeightLimit: 0.5, minAllowedWeights: 1 } }, [
      { uid: 0, score: 0.9 },
      { uid: 1, score: 0.05 },
      { uid: 2, score: 0.05 },
    ])!;
    expect(Math.max(...result.weights)).toBeLessThanOrEqual(0.5 + 1e-6);
    expect(result.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('spreads weight over every uid when fewer miners score than the subnet requires, as the SDK does', () => {
    const result = chainWeights({ neurons, hyperparameters: { minAllowedWeights: 3, maxWeightLimit: 1 } }, [
      { uid: 1, score: 1 },
    ])!;
    expect(result.uids).toEqual([0, 1, 2, 3]);
    expect(result.weights[1]).toBeGreaterThan(0.99);
  });
});
