import { z } from 'zod';
import { baseEnvSchema, env, parseEnv, redisAuthEnvSchema } from '@chattensor/common';
import { loadQueryConfig, queryEnvSchema, type QueryConfig } from '../query/query.config';
import { loadSubtensorConfig, subtensorEnvSchema, type SubtensorConfig } from '../subtensor/subtensor.config';

/** Every variable the chain-indexer reads; see the table in services/chain-indexer/README.md. */
export const chainIndexerEnvSchema = baseEnvSchema
  .extend(redisAuthEnvSchema.shape)
  .extend({
    HTTP_HOST: z.string().default('0.0.0.0'),
    /** Ops port: /healthz, /readyz, /metrics. */
    HTTP_PORT: env.port().default(9300),
    REDIS_URL: env.url(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
    /** Standalone mode: an announcement older than this drops the neuron from the metagraph. */
    ANNOUNCE_TTL_MS: env.int(1000, 86_400_000).default(30_000),
    /** Standalone mode: stake given to announced validators (so they hold a permit). */
    LOCAL_VALIDATOR_STAKE: env.number(0, Number.MAX_SAFE_INTEGER).default(1000),
  })
  .extend(subtensorEnvSchema.shape)
  .extend(queryEnvSchema.shape);

export interface ChainIndexerConfig {
  netuid: number;
  chainMode: 'local' | 'subtensor';
  natsServers: string[];
  redisUrl: string;
  http: { host: string; port: number };
  local: { announceTtlMs: number; validatorStake: number };
  /** Set in `CHAIN_MODE=subtensor`, validated at start like everything else. */
  subtensor?: SubtensorConfig;
  /** The gRPC query API. */
  query: QueryConfig;
}

export function loadChainIndexerConfig(source: NodeJS.ProcessEnv = process.env): ChainIndexerConfig {
  const e = parseEnv(chainIndexerEnvSchema, source);
  return {
    netuid: e.NETUID,
    chainMode: e.CHAIN_MODE,
    natsServers: e.NATS_URL,
    redisUrl: e.REDIS_URL,
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    local: { announceTtlMs: e.ANNOUNCE_TTL_MS, validatorStake: e.LOCAL_VALIDATOR_STAKE },
    subtensor: e.CHAIN_MODE === 'subtensor' ? loadSubtensorConfig(source) : undefined,
    query: loadQueryConfig(source),
  };
}
