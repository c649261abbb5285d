import { z } from 'zod';
import { env, parseEnv } from '@chattensor/common';

/** The Bittensor axon endpoint's variables (the SDK's axon listens on 8091 by default). */
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
});

export interface AxonConfig {
  enabled: boolean;
  host: string;
  port: number;
  maxTimeoutSeconds: number;
  bodyLimitBytes: number;
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
  };
}
