import { Keypair, U16_MAX, convertWeightsAndUidsForEmit, generateWeightHash, initCrypto, processWeights, scoresToU16Weights } from '@chattensor/bittensor';
import { PythonOracle } from './support/python';
import { Rng } from './support/random';

interface PyWeights {
  processed_uids: number[];
  processed_weights: number[];
  dtype: string;
  uids: number[];
  weights: number[];
}

let py: PythonOracle;

beforeAll(async () => {
  await initCrypto();
  py = new PythonOracle();
});

afterAll(async () => {
  await py.close();
});

function randomCase(rng: Rng) {
  const n = rng.int(1, rng.chance(0.2) ? 1024 : 256);
  const shape = rng.int(0, 5);
  const weights = Array.from({ length: n }, () => {
    if (rng.chance(shape === 0 ? 0.9 : 0.3)) return 0;
    switch (shape) {
      case 1:
        return rng.next() ** 8; // a few large, many tiny: the max-weight cap bites
      case 2:
        return rng.int(0, 20) / 20; // ties and repeated values
      case 3:
        return rng.next() * 10 ** rng.int(-6, 6);
      default:
        return rng.next();
    }
  });
  const numNeurons = n + (rng.chance(0.3) ? rng.int(0, 64) : 0);
  const minAllowedWeights = rng.pick([0, 1, 8, rng.int(0, n + 10), rng.int(0, Math.max(1, Math.floor(n / 4)))]);
  const maxWeightLimit = rng.pick([U16_MAX, 65535 / 2, 455, rng.int(1, U16_MAX)]) / U16_MAX;
  const excludeQuantile = rng.pick([0, 0, rng.int(0, U16_MAX), 6553, U16_MAX]);
  return { uids: Array.from({ length: n }, (_, i) => i), weights, numNeurons, minAllowedWeights, maxWeightLimit, excludeQuantile };
}

describe('SDK 10 weights (process_weights, bittensor 10.5.0) agree bit for bit', () => {
  it('produces identical u16 vectors for 1,200 random score vectors and hyperparameters', async () => {
    const rng = new Rng(1125);
    const cases = Array.from({ length: 1200 }, () => randomCase(rng));
    const answers = await Promise.all(
      cases.map((c) =>
        py.call<PyWeights>('process_weights', {
          uids: c.uids,
          weights: c.weights,
          num_neurons: c.numNeurons,
          min_allowed_weights: c.minAllowedWeights,
          max_weight_limit: c.maxWeightLimit,
          exclude_quantile: c.excludeQuantile,
        }),
      ),
    );
    let capped = 0;
    cases.forEach((c, i) => {
      const theirs = answers[i];
      const processed = processWeights(c);
      expect({ i, dtype: processed.weights.dtype, uids: processed.uids, weights: processed.weights.values }).toEqual({
        i,
        dtype: theirs.dtype,
        uids: theirs.processed_uids,
        weights: theirs.processed_weights,
      });
      expect({ i, ...scoresToU16Weights(c) }).toEqual({ i, uids: theirs.uids, weights: theirs.weights });
      if (Math.max(...theirs.processed_weights) < 0.999 * c.maxWeightLimit + 1e-3 && c.maxWeightLimit < 0.5) capped++;
    });
    // The sample must exercise the max-weight cap, not only the plain normalisation.
    expect(capped).toBeGreaterThan(50);
  });

  it('rounds half to even exactly where Python round() does', () => {
    // 0.5/65535 of the max lands exactly on .5 after upscaling.
    expect(convertWeightsAndUidsForEmit([0, 1, 2], [1, 0.5 / U16_MAX, 1.5 / U16_MAX]).weights).toEqual([65535, 2]);
  });

  it('computes the commit-reveal hash the SDK commits', async () => {
    const rng = new Rng(5);
    for (let i = 0; i < 30; i++) {
      const hotkey = Keypair.fromUri(`//commit${i}`).ss58Address;
      const n = rng.int(0, 40);
      const commit = {
        hotkey,
        netuid: rng.int(0, 65535),
        uids: Array.from({ length: n }, () => rng.int(0, 65535)),
        weights: Array.from({ length: n }, () => rng.int(0, 65535)),
        versionKey: BigInt(rng.int(0, 2 ** 31)) * BigInt(rng.int(1, 2 ** 31)),
        salt: Array.from({ length: 8 }, () => rng.int(0, 65535)),
      };
      const theirs = await py.call<string>('weight_hash', { ...commit, versionKey: undefined, version_key: commit.versionKey.toString() });
      expect(generateWeightHash(commit)).toBe(theirs);
    }
  });
});
