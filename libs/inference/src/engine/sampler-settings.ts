import { randomInt } from 'node:crypto';
import { InvalidRequestError } from '../errors';
import type { GenerationDefaults } from '../model/model-folder';
import type { SamplingOptions } from '../types';
import type { SamplerSettings } from './sampler';

/**
 * The sampler settings a request runs with: its own values, else the model's
 * generation_config.json defaults (greedy when the model does not sample).
 * Shared by the engine and the reference model that verifies answers, so
 * both read a request the same way.
 */
export function resolveSamplerSettings(d: GenerationDefaults, sampling: SamplingOptions): SamplerSettings {
  const temperature = sampling.temperature ?? (d.doSample ? (d.temperature ?? 1) : 0);
  const check = (name: string, value: number, min: number, max: number): number => {
    if (!Number.isFinite(value) || value < min || value > max)
      throw new InvalidRequestError(`${name} must be between ${min} and ${max}`);
    return value;
  };
  return {
    temperature: check('temperature', temperature, 0, 100),
    topP: check('topP', sampling.topP ?? (d.doSample ? (d.topP ?? 1) : 1), 0, 1) || 1,
    topK: Math.floor(
      check('topK', sampling.topK ?? (d.doSample ? (d.topK ?? 0) : 0), 0, Number.MAX_SAFE_INTEGER),
    ),
    minP: check('minP', sampling.minP ?? (d.doSample ? (d.minP ?? 0) : 0), 0, 1),
    repetitionPenalty: check(
      'repetitionPenalty',
      sampling.repetitionPenalty ?? d.repetitionPenalty ?? 1,
      0.01,
      100,
    ),
    presencePenalty: check('presencePenalty', sampling.presencePenalty ?? 0, -2, 2),
    frequencyPenalty: check('frequencyPenalty', sampling.frequencyPenalty ?? 0, -2, 2),
    seed: sampling.seed ?? randomInt(0, 2 ** 32 - 1),
  };
}
