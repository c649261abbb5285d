import { Keypair, initCrypto } from '../keys/keypair';
import { convertWeightsAndUidsForEmit, generateWeightHash, normalizeMaxWeight, numpySum, processWeights, roundHalfEven, scoresToU16Weights } from './weight-utils';

// Expected values below were produced by bittensor 10.5.0 with numpy 2.4;
// test/interop compares against the live SDK on thousands of random cases.
describe('weight conversion', () => {
  it('caps, normalises and upscales like process_weights + convert_weights_and_uids_for_emit', () => {
    const input = { uids: [0, 1, 2, 3, 4, 5], weights: [0.9, 0, 0.05, 0.3, 0.001, 0.3], numNeurons: 6, minAllowedWeights: 2, maxWeightLimit: 0.4 };
    const processed = processWeights(input);
    expect(processed.uids).toEqual([0, 2, 3, 4, 5]);
    expect(processed.weights).toEqual({ dtype: 'float32', values: [0.39999982714653015, 0.046082958579063416, 0.2764977514743805, 0.0009216591715812683, 0.2764977514743805] });
    expect(scoresToU16Weights(input)).toEqual({ uids: [0, 2, 3, 4, 5], weights: [65535, 7550, 45301, 151, 45301] });
  });

  it('pads with 1e-5 in float64 when fewer weights than the minimum are set', () => {
    const processed = processWeights({ uids: [0, 1, 2, 3, 4, 5], weights: [0.9, 0, 0.05, 0.3, 0.001, 0.3], numNeurons: 8, minAllowedWeights: 6, maxWeightLimit: 0.3 });
    expect(processed.weights.dtype).toBe('float64');
    expect(processed.weights.values[1]).toBe(1.958881683881268e-5);
    expect(convertWeightsAndUidsForEmit(processed.uids, processed.weights.values).weights).toEqual([65535, 4, 21400, 65535, 432, 65535, 4, 4]);
  });

  it('drops the lowest quantile but keeps at least the minimum', () => {
    const weights = Array.from({ length: 10 }, (_, i) => 0.1 * i);
    expect(scoresToU16Weights({ uids: weights.map((_, i) => i), weights, numNeurons: 10, minAllowedWeights: 2, maxWeightLimit: 1, excludeQuantile: 32768 })).toEqual({
      uids: [6, 7, 8, 9],
      weights: [43690, 50972, 58253, 65535],
    });
  });

  it('spreads evenly when nothing scored', () => {
    expect(processWeights({ uids: [0, 1], weights: [0, 0], numNeurons: 4, minAllowedWeights: 1, maxWeightLimit: 0.5 })).toEqual({
      uids: [0, 1, 2, 3],
      weights: { dtype: 'float64', values: [0.25, 0.25, 0.25, 0.25] },
    });
  });

  it('normalize_max_weight limits the top weight as numpy float32 does', () => {
    expect(normalizeMaxWeight({ dtype: 'float32', values: [1, 2, 3, 4, 100] }, 0.3).values).toEqual([
      0.0700000748038292, 0.1400001496076584, 0.21000023186206818, 0.2800002992153168, 0.2999992370605469,
    ]);
  });

  it('sums pairwise in float32 as numpy does, not sequentially', () => {
    // Added one by one, each 1e-8 vanishes against 1; summed in pairs first, they add up.
    const values = [1, ...Array<number>(1023).fill(Math.fround(1e-8))];
    let sequential = 0;
    for (const v of values) sequential = Math.fround(sequential + v);
    expect(sequential).toBe(1);
    expect(numpySum(values, 'float32')).toBeGreaterThan(1.000009);
  });

  it('rounds half to even as Python round() does', () => {
    expect([0.5, 1.5, 2.5, 2.4999999, 3.5000001].map(roundHalfEven)).toEqual([0, 2, 2, 2, 4]);
  });

  it('refuses negative weights and mismatched lengths', () => {
    expect(() => convertWeightsAndUidsForEmit([0], [-1])).toThrow(/negative/);
    expect(() => convertWeightsAndUidsForEmit([0, 1], [1])).toThrow(/same length/);
  });
});

describe('generateWeightHash', () => {
  it('matches the SDK commit hash', async () => {
    await initCrypto();
    const hotkey = Keypair.fromUri('//Alice').ss58Address;
    expect(generateWeightHash({ hotkey, netuid: 1, uids: [0, 1, 2], weights: [65535, 100, 7], versionKey: 10005000, salt: [1, 2, 3, 4, 5, 6, 7, 8] })).toBe(
      '0x8b5a83463253f258949863907da84ace63c734934877407b457ca4ff9793c59a',
    );
  });
});
