import { TokenSampler, type SamplerSettings } from './sampler';

const base: SamplerSettings = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, seed: 3 };
const logits = (): Float32Array => Float32Array.from([1, 3, 2.5, 0, -1, 2.9]);

function draws(settings: Partial<SamplerSettings>, count = 300): number[] {
  const sampler = new TokenSampler({ ...base, ...settings }, []);
  return Array.from({ length: count }, () => sampler.sample(logits()));
}

describe('TokenSampler', () => {
  it('picks the highest logit at temperature 0', () => {
    expect(new Set(draws({ temperature: 0 }, 20))).toEqual(new Set([1]));
  });

  it('repeats the same draws for the same seed and differs for another seed', () => {
    expect(draws({ seed: 11 })).toEqual(draws({ seed: 11 }));
    expect(draws({ seed: 11 })).not.toEqual(draws({ seed: 12 }));
  });

  it('samples every plausible token without filters', () => {
    expect(new Set(draws({}, 2000))).toEqual(new Set([0, 1, 2, 3, 4, 5]));
  });

  it('keeps only the k most likely tokens with top-k', () => {
    expect(new Set(draws({ topK: 2 }))).toEqual(new Set([1, 5]));
  });

  it('keeps the smallest nucleus reaching top-p', () => {
    // Probabilities: 3 -> 0.38, 2.9 -> 0.35, 2.5 -> 0.23; the top two hold 0.73.
    expect(new Set(draws({ topP: 0.7 }))).toEqual(new Set([1, 5]));
    expect(new Set(draws({ topP: 0.3 }))).toEqual(new Set([1]));
  });

  it('drops tokens below min-p times the top probability', () => {
    expect(new Set(draws({ minP: 0.5 }))).toEqual(new Set([1, 2, 5]));
  });

  it('steers away from generated tokens with presence and frequency penalties', () => {
    const sampler = new TokenSampler({ ...base, temperature: 0, presencePenalty: 2 }, []);
    const first = sampler.sample(logits());
    sampler.accept(first);
    expect(first).toBe(1);
    expect(sampler.sample(logits())).toBe(5);
  });

  it('divides positive logits of prompt tokens by the repetition penalty', () => {
    const sampler = new TokenSampler({ ...base, temperature: 0, repetitionPenalty: 2 }, [1, 5]);
    expect(sampler.sample(logits())).toBe(2);
  });
});
