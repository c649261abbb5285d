import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, env } from '@chattensor/common';
import type { Tolerances } from '@chattensor/inference';
import { DEFAULT_TOLERANCES, type SpeedCurve } from '@chattensor/scoring';

/** Variables of answer verification, synthetic traffic and the reward curve; see services/validator/README.md. */
export const verificationEnvShape = {
  /** Folder of the reference model every miner must serve; unset disables verification. */
  REFERENCE_MODEL_DIR: z.string().optional(),
  REFERENCE_QUANTIZE: z.enum(['none', 'int8'], { message: 'must be none or int8' }).default('none'),
  /** onnxruntime threads of the reference model: the most cores verification takes. */
  VERIFY_THREADS: env.int(1, 64).default(1),
  /** Share of organic requests whose answers are verified (every synthetic one is). */
  VERIFY_ORGANIC_SHARE: env.number(0, 1).default(0.1),
  /** Answers waiting for verification before organic ones are skipped. */
  VERIFY_QUEUE: env.int(1, 100_000).default(64),
  /** MiB of prompt key/value caches the reference keeps, so answers to prompts that start alike skip the shared start; 0 keeps none. */
  VERIFY_PROMPT_CACHE_MB: env.int(0, 65_536).default(64),
  /** How long a miner that failed verification gets no user traffic; 0 disables. */
  VERIFY_EXCLUSION_SECONDS: env.int(0, 30 * 86_400).default(600),
  VERIFY_GREEDY_LOGIT_GAP: env.number(0, 100).default(DEFAULT_TOLERANCES.greedyLogitGap),
  VERIFY_GREEDY_MEAN_GAP: env.number(0, 100).default(DEFAULT_TOLERANCES.greedyMeanGap),
  VERIFY_SAMPLING_LOGIT_SLACK: env.number(0, 100).default(DEFAULT_TOLERANCES.samplingLogitSlack),
  VERIFY_LOGPROB_Z: env.number(1, 1000).default(DEFAULT_TOLERANCES.logprobZ),
  VERIFY_LOGPROB_MIN_TOKENS: env.int(1, 100_000).default(DEFAULT_TOLERANCES.logprobMinTokens),
  /** Verified synthetic questions per serving miner per tempo (leader only); 0 disables. */
  SYNTHETIC_PER_MINER: env.int(0, 10_000).default(4),
  /** Length of a tempo in seconds; 0 takes the subnet's tempo (blocks × 12 s) or else WEIGHTS_INTERVAL_SECONDS. */
  SYNTHETIC_TEMPO_SECONDS: env.int(0, 86_400).default(0),
  SYNTHETIC_MAX_TOKENS: env.int(1, 4096).default(48),
  /** Reward curve: a first token this late (plus 1 ms per prompt token) earns half the latency term. */
  REWARD_TTFT_SECONDS: env.number(0.001, 600).default(1),
  /** Reward curve: this decode rate (tokens/s) earns half the rate term. */
  REWARD_DECODE_TPS: env.number(0.001, 1_000_000).default(20),
  /** Reward curve: share of the reward a verified answer earns however slow it is. */
  REWARD_BASE: env.number(0, 1).default(0.4),
};

type VerificationEnv = z.infer<z.ZodObject<typeof verificationEnvShape>>;

export interface VerificationConfig {
  referenceModelDir?: string;
  referenceQuantize: 'none' | 'int8';
  threads: number;
  organicShare: number;
  queueLimit: number;
  promptCacheBytes: number;
  exclusionSeconds: number;
  tolerances: Tolerances;
  synthetic: { perMiner: number; tempoSeconds: number; maxTokens: number };
  curve: SpeedCurve;
}

export function verificationConfigOf(e: VerificationEnv): VerificationConfig {
  if (e.REFERENCE_MODEL_DIR && !existsSync(join(e.REFERENCE_MODEL_DIR, 'config.json')))
    throw new ConfigError([
      {
        variable: 'REFERENCE_MODEL_DIR',
        problem: `${e.REFERENCE_MODEL_DIR} is not a model folder (no config.json in it)`,
      },
    ]);
  return {
    referenceModelDir: e.REFERENCE_MODEL_DIR,
    referenceQuantize: e.REFERENCE_QUANTIZE,
    threads: e.VERIFY_THREADS,
    organicShare: e.VERIFY_ORGANIC_SHARE,
    queueLimit: e.VERIFY_QUEUE,
    promptCacheBytes: e.VERIFY_PROMPT_CACHE_MB * 2 ** 20,
    exclusionSeconds: e.VERIFY_EXCLUSION_SECONDS,
    tolerances: {
      greedyLogitGap: e.VERIFY_GREEDY_LOGIT_GAP,
      greedyMeanGap: e.VERIFY_GREEDY_MEAN_GAP,
      samplingLogitSlack: e.VERIFY_SAMPLING_LOGIT_SLACK,
      logprobZ: e.VERIFY_LOGPROB_Z,
      logprobMinTokens: e.VERIFY_LOGPROB_MIN_TOKENS,
    },
    synthetic: {
      perMiner: e.SYNTHETIC_PER_MINER,
      tempoSeconds: e.SYNTHETIC_TEMPO_SECONDS,
      maxTokens: e.SYNTHETIC_MAX_TOKENS,
    },
    curve: {
      ttftSeconds: e.REWARD_TTFT_SECONDS,
      ttftSecondsPerPromptToken: 0.001,
      decodeTokensPerSecond: e.REWARD_DECODE_TPS,
      base: e.REWARD_BASE,
    },
  };
}
