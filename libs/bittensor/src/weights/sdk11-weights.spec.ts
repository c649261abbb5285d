import { conformWeights, sdkClipToMaxWeight, sdkNormalizeWeights } from './sdk11-weights';

describe('SDK 11 weights', () => {
  it('max-upscales to u16 with round-half-even and drops zeros', () => {
    expect(sdkNormalizeWeights([0, 1, 2, 3], [1, 0.5, 0, 0.5 / 65535])).toEqual({ uids: [0, 1], weights: [65535, 32768] });
    expect(sdkNormalizeWeights([0, 1], [0, 0])).toEqual({ uids: [], weights: [] });
    expect(() => sdkNormalizeWeights([0], [Number.NaN])).toThrow('Weights must be finite and non-negative.');
  });

  it('clips to the max-weight limit in float64, redistributing the mass', () => {
    const clipped = sdkClipToMaxWeight([10, 1, 1, 1, 1], 0.3);
    expect(Math.max(...clipped)).toBeLessThanOrEqual(0.3);
    expect(clipped.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(sdkClipToMaxWeight([1, 2], 0.4)).toEqual([0.5, 0.5]);
  });

  it('refuses what the SDK refuses: all zero, too few weights; a self-weight is exempt', () => {
    expect(() => conformWeights({ uids: [0, 1], weights: [0, 0], maxWeightLimitU16: 65535, minAllowedWeights: 0 })).toThrow('All weights are zero; nothing to set.');
    expect(() => conformWeights({ uids: [0, 1], weights: [0, 0], maxWeightLimitU16: 1000, minAllowedWeights: 0 })).toThrow('nothing to set');
    expect(() => conformWeights({ uids: [0, 1], weights: [1, 0], maxWeightLimitU16: 65535, minAllowedWeights: 2 })).toThrow(/at least 2 weights; only 1/);
    expect(conformWeights({ uids: [4], weights: [1], maxWeightLimitU16: 100, minAllowedWeights: 8, selfUid: 4 })).toEqual({ uids: [4], weights: [65535] });
    expect(() => conformWeights({ uids: [1, 1], weights: [1, 1], maxWeightLimitU16: 65535, minAllowedWeights: 0 })).toThrow(/Duplicate UIDs/);
  });
});
