import { z } from 'zod';
import { env, parseEnv } from '@chattensor/common';

/**
 * The public port's variables (the SDK's axon port, 8091 by default): the
 * OpenAI-compatible API behind btauth/1, and the legacy SDK-10 axon.
 */
export const axonEnvSchema = z.object({
  /**
   * Defaults to on with CHAIN_MODE=subtensor (Python validators find the
   * axon through the chain) and off in standalone mode, where several miners
   * share one machine and nobody dials 8091.
   */
  AXON_ENABLED: env.bool().optional(),
  CHAIN_MODE: z.enum(['local', 'subtensor']).default('local'),
  AXON_HOST: z.string().default('0.0.0.0'),
  AXON_PORT: env.port().default(8091),
  /** Longest timeout a caller may ask for, in seconds. */
  AXON_MAX_TIMEOUT_S: env.number(1, 3600).default(120),
  AXON_BODY_LIMIT_BYTES: env.int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /** Legacy: also serve the SDK-10 axon (`POST /StreamPrompting`, `bt_header_*`) on the same port, for bittensor 10.x validators. */
  AXON_LEGACY_SDK10: env.bool().default(false),
  /** Redis shared by the miner's replicas for btauth/1 replay protection; unset: this process's memory. */
  BTAUTH_REDIS_URL: env.url(['redis', 'rediss']).optional(),
});

export interface AxonConfig {
  enabled: boolean;
  host: string;
  port: number;
  maxTimeoutSeconds: number;
  bodyLimitBytes: number;
  /** Serve the SDK-10 StreamPrompting axon too (legacy). */
  legacySdk10?: boolean;
  /** Shared btauth/1 seen-nonce store. */
  nonceRedisUrl?: string;
}

export const AXON_CONFIG = Symbol('AXON_CONFIG');

export function loadAxonConfig(source: NodeJS.ProcessEnv = process.env): AxonConfig {
  const e = parseEnv(axonEnvSchema, source);
  return {
    enabled: e.AXON_ENABLED ?? e.CHAIN_MODE === 'subtensor',
    host: e.AXON_HOST,
    port: e.AXON_PORT,
    maxTimeoutSeconds: e.AXON_MAX_TIMEOUT_S,
    bodyLimitBytes: e.AXON_BODY_LIMIT_BYTES,
    legacySdk10: e.AXON_LEGACY_SDK10,
    nonceRedisUrl: e.BTAUTH_REDIS_URL,
  };
}
