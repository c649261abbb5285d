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
import {
  verificationConfigOf,
  verificationEnvShape,
  type VerificationConfig,
} from '../verification/verification.config';

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
    /** Jobs this replica runs at once; more wait in its admission queue. */
    MAX_CONCURRENT_JOBS: env.int(1, 100_000).default(64),
    /** Jobs allowed to wait for a slot; beyond it the replica answers `overloaded` (429 with Retry-After). */
    MAX_QUEUED_JOBS: env.int(0, 1_000_000).default(1024),
    /** Longest wait for a slot before the job is answered `overloaded`. */
    QUEUE_TIMEOUT_MS: env.int(0, 600_000).default(20_000),
    /** Further rounds of miners asked for one answer after the first round failed (before or after its first token). */
    MINER_FAILOVERS: env.int(0, 16).default(3),
    /** How long a miner may take to produce its first token. */
    MINER_FIRST_TOKEN_TIMEOUT_MS: env.int(100, 600_000).default(30_000),
    /** Smoothing factor of the per-miner moving-average score, in (0, 1]. */
    SCORE_EMA_ALPHA: env.number(0.001, 1).default(0.1),
    /** Seconds between weight-setting rounds by the leader; 0 disables. */
    WEIGHTS_INTERVAL_SECONDS: env.int(0, 86_400).default(60),
    /** Seconds between two samples of each miner's score on the status page's chart (kept in Redis). */
    SCORE_HISTORY_INTERVAL_SECONDS: env.int(1, 86_400).default(30),
    /** Samples of each miner's score kept for the chart. */
    SCORE_HISTORY_SAMPLES: env.int(1, 10_000).default(60),
    ...verificationEnvShape,
  });

export interface ValidatorConfig {
  netuid: number;
  chainMode: 'local' | 'subtensor';
  natsServers: string[];
  redisUrl: string;
  hotkey: HotkeySource;
  http: { host: string; port: number };
  query: {
    minersPerRequest: number;
    maxConcurrentJobs: number;
    firstTokenTimeoutMs: number;
    failovers: number;
  };
  admission: { maxQueuedJobs: number; queueTimeoutMs: number };
  scoring: { emaAlpha: number; weightsIntervalSeconds: number };
  /** The status page's score chart: one sample per interval, the last `length` kept. */
  scoreHistory: { intervalMs: number; length: number };
  /** Answer verification, synthetic traffic and the reward curve (verification.config.ts). */
  verification: VerificationConfig;
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
      failovers: e.MINER_FAILOVERS,
    },
    admission: { maxQueuedJobs: e.MAX_QUEUED_JOBS, queueTimeoutMs: e.QUEUE_TIMEOUT_MS },
    scoring: { emaAlpha: e.SCORE_EMA_ALPHA, weightsIntervalSeconds: e.WEIGHTS_INTERVAL_SECONDS },
    scoreHistory: { intervalMs: e.SCORE_HISTORY_INTERVAL_SECONDS * 1000, length: e.SCORE_HISTORY_SAMPLES },
    verification: verificationConfigOf(e),
  };
}
