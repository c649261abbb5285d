import { z } from 'zod';
import {
  baseEnvSchema,
  env,
  hotkeyEnvSchema,
  hotkeySourceOf,
  parseEnv,
  redisAuthEnvSchema,
  type HotkeySource,
} from '@chattensor/common';

/** Every variable the validator reads; see the table in services/validator/README.md. */
export const validatorEnvSchema = baseEnvSchema
  .extend(hotkeyEnvSchema.shape)
  .extend(redisAuthEnvSchema.shape)
  .extend({
    HTTP_HOST: z.string().default('0.0.0.0'),
    /** Ops port: /healthz, /readyz, /metrics. */
    HTTP_PORT: env.port().default(9100),
    REDIS_URL: env.url(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
    /** Miners queried in parallel for each answer. */
    MINERS_PER_REQUEST: env.int(1, 64).default(2),
    /** Jobs this replica runs at once before it answers `overloaded`. */
    MAX_CONCURRENT_JOBS: env.int(1, 100_000).default(64),
    /** How long a miner may take to produce its first token. */
    MINER_FIRST_TOKEN_TIMEOUT_MS: env.int(100, 600_000).default(30_000),
    /** Smoothing factor of the per-miner moving-average score, in (0, 1]. */
    SCORE_EMA_ALPHA: env.number(0.001, 1).default(0.1),
    /** Seconds between weight-setting rounds by the leader; 0 disables. */
    WEIGHTS_INTERVAL_SECONDS: env.int(0, 86_400).default(60),
  });

export interface ValidatorConfig {
  netuid: number;
  chainMode: 'local' | 'subtensor';
  natsServers: string[];
  redisUrl: string;
  hotkey: HotkeySource;
  http: { host: string; port: number };
  query: { minersPerRequest: number; maxConcurrentJobs: number; firstTokenTimeoutMs: number };
  scoring: { emaAlpha: number; weightsIntervalSeconds: number };
}

export function loadValidatorConfig(source: NodeJS.ProcessEnv = process.env): ValidatorConfig {
  const e = parseEnv(validatorEnvSchema, source);
  return {
    netuid: e.NETUID,
    chainMode: e.CHAIN_MODE,
    natsServers: e.NATS_URL,
    redisUrl: e.REDIS_URL,
    hotkey: hotkeySourceOf(e),
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    query: {
      minersPerRequest: e.MINERS_PER_REQUEST,
      maxConcurrentJobs: e.MAX_CONCURRENT_JOBS,
      firstTokenTimeoutMs: e.MINER_FIRST_TOKEN_TIMEOUT_MS,
    },
    scoring: { emaAlpha: e.SCORE_EMA_ALPHA, weightsIntervalSeconds: e.WEIGHTS_INTERVAL_SECONDS },
  };
}
