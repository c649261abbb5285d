import { z } from 'zod';
import { baseEnvSchema, env, parseEnv } from '@chattensor/common';

/** The gRPC query API's listener. */
export const queryEnvSchema = z.object({
  INDEXER_GRPC_HOST: z.string().default('0.0.0.0'),
  /** 0 picks a free port (tests). */
  INDEXER_GRPC_PORT: env.port().default(9301),
  NETUID: env.int(0, 65535).default(1),
  /** Subtensor mode: the other followed netuids (the query API answers NOT_FOUND for any other). */
  SUBTENSOR_NETUIDS: env.list().optional(),
  CHAIN_MODE: baseEnvSchema.shape.CHAIN_MODE,
});

export interface QueryConfig {
  host: string;
  port: number;
  /** The netuid a request without one is about. */
  defaultNetuid: number;
  /** Netuids the indexer follows; others are answered NOT_FOUND. Default: the default netuid only. */
  followedNetuids?: number[];
}

export function loadQueryConfig(source: NodeJS.ProcessEnv = process.env): QueryConfig {
  const e = parseEnv(queryEnvSchema, source);
  const extra =
    e.CHAIN_MODE === 'subtensor' ? (e.SUBTENSOR_NETUIDS ?? []).map(Number).filter(Number.isInteger) : [];
  return {
    host: e.INDEXER_GRPC_HOST,
    port: e.INDEXER_GRPC_PORT,
    defaultNetuid: e.NETUID,
    followedNetuids: [...new Set([e.NETUID, ...extra])],
  };
}

export const QUERY_CONFIG = Symbol('QUERY_CONFIG');
