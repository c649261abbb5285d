import { z } from 'zod';
import { env, parseEnv } from '@chattensor/common';

/** The gRPC query API's listener. */
export const queryEnvSchema = z.object({
  INDEXER_GRPC_HOST: z.string().default('0.0.0.0'),
  /** 0 picks a free port (tests). */
  INDEXER_GRPC_PORT: env.port().default(9301),
  NETUID: env.int(0, 65535).default(1),
});

export interface QueryConfig {
  host: string;
  port: number;
  /** The netuid a request without one is about. */
  defaultNetuid: number;
}

export function loadQueryConfig(source: NodeJS.ProcessEnv = process.env): QueryConfig {
  const e = parseEnv(queryEnvSchema, source);
  return { host: e.INDEXER_GRPC_HOST, port: e.INDEXER_GRPC_PORT, defaultNetuid: e.NETUID };
}

export const QUERY_CONFIG = Symbol('QUERY_CONFIG');
