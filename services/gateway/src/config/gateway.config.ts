import { z } from 'zod';
import { baseEnvSchema, env, parseEnv } from '@chattensor/common';

/** Every variable the gateway reads; see the table in services/gateway/README.md. */
export const gatewayEnvSchema = baseEnvSchema.extend({
  HTTP_HOST: z.string().default('0.0.0.0'),
  HTTP_PORT: env.port().default(8080),
  REDIS_URL: env.url(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
  /** Model id advertised on /v1/models when no miner has announced one. */
  DEFAULT_MODEL: z.string().min(1).default('chattensor'),
  /** How long a validator has to accept a job before the client gets 503. */
  ACCEPT_TIMEOUT_MS: env.int(50, 60_000).default(1000),
  /** Upper bound on a whole chat request. */
  REQUEST_TIMEOUT_MS: env.int(1000, 3_600_000).default(120_000),
  /** Silence between chunks after which a stream is considered dead. */
  IDLE_TIMEOUT_MS: env.int(1000, 3_600_000).default(30_000),
  MAX_BODY_BYTES: env.int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  DEFAULT_MAX_TOKENS: env.int(1, 32768).default(256),
  MAX_TOKENS_LIMIT: env.int(1, 32768).default(4096),
  CONVERSATION_TTL_SECONDS: env.int(60).default(30 * 24 * 3600),
  /** Characters of history sent with a conversation's request (oldest turns dropped first). */
  CONVERSATION_MAX_CHARS: env.int(256).default(16_000),
});

export type GatewayEnv = z.infer<typeof gatewayEnvSchema>;

export interface GatewayConfig {
  logLevel: string;
  natsServers: string[];
  redisUrl: string;
  netuid: number;
  chainMode: 'local' | 'subtensor';
  http: { host: string; port: number; maxBodyBytes: number };
  chat: {
    defaultModel: string;
    acceptTimeoutMs: number;
    requestTimeoutMs: number;
    idleTimeoutMs: number;
    defaultMaxTokens: number;
    maxTokensLimit: number;
  };
  conversations: { ttlSeconds: number; maxChars: number };
}


export function loadGatewayConfig(source: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const e = parseEnv(gatewayEnvSchema, source);
  return {
    logLevel: e.LOG_LEVEL,
    natsServers: e.NATS_URL,
    redisUrl: e.REDIS_URL,
    netuid: e.NETUID,
    chainMode: e.CHAIN_MODE,
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT, maxBodyBytes: e.MAX_BODY_BYTES },
    chat: {
      defaultModel: e.DEFAULT_MODEL,
      acceptTimeoutMs: e.ACCEPT_TIMEOUT_MS,
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      idleTimeoutMs: e.IDLE_TIMEOUT_MS,
      defaultMaxTokens: e.DEFAULT_MAX_TOKENS,
      maxTokensLimit: e.MAX_TOKENS_LIMIT,
    },
    conversations: { ttlSeconds: e.CONVERSATION_TTL_SECONDS, maxChars: e.CONVERSATION_MAX_CHARS },
  };
}
