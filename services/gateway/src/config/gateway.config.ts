import { z } from 'zod';
import { baseEnvSchema, env, parseEnv, redisAuthEnvSchema } from '@chattensor/common';

/** Every variable the gateway reads; see the table in services/gateway/README.md. */
export const gatewayEnvSchema = baseEnvSchema.extend(redisAuthEnvSchema.shape).extend({
  HTTP_HOST: z.string().default('0.0.0.0'),
  HTTP_PORT: env.port().default(8080),
  REDIS_URL: env.url(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
  /** Model id advertised on /v1/models when no miner has announced one. */
  DEFAULT_MODEL: z.string().min(1).default('chattensor'),
  /** How long a validator has to accept a job before the client gets 503 (kept under a second, the backpressure promise). */
  ACCEPT_TIMEOUT_MS: env.int(50, 60_000).default(750),
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
  /** Messages kept per stored conversation; the oldest are dropped beyond it. */
  CONVERSATION_MAX_MESSAGES: env.int(2, 100_000).default(1000),
  /**
   * Model folders (comma-separated) of the models the miners serve: the gateway reads their context length and
   * tokenizer (config.json, tokenizer.json, tokenizer_config.json; no weights) to refuse a prompt longer than the
   * context with 400 context_length_exceeded before any miner is asked. Unset: that check is left to the miners.
   */
  MODEL_DIRS: z.string().optional(),
  /** Context length assumed for history trimming when the model's folder is not in MODEL_DIRS. */
  CONTEXT_TOKENS: env.int(128, 1_048_576).default(4096),
  /** Characters per token assumed when estimating prompt sizes (low = conservative). */
  CHARS_PER_TOKEN: env.number(1, 16).default(3),
  /** false: every API request needs a key (401 without one). */
  ANONYMOUS_ACCESS: env.bool().default(true),
  /** Limits of the anonymous tier, per client IP. */
  ANONYMOUS_REQUESTS_PER_MINUTE: env.int(1, 1_000_000).default(60),
  ANONYMOUS_TOKENS_PER_MINUTE: env.int(1, 1_000_000_000).default(40_000),
  /** Limits given to a new API key unless its creator sets others. */
  KEY_REQUESTS_PER_MINUTE: env.int(1, 1_000_000).default(600),
  KEY_TOKENS_PER_MINUTE: env.int(1, 1_000_000_000).default(400_000),
  /** Signs the anonymous session cookies; unset: a secret generated once and kept in Redis (shared by every replica). */
  SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Bearer token of the /admin API; the admin API is off when unset. */
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Hotkey of the validator this gateway fronts, shown on the status page (default: the metagraph's delegate, else the reporting validator). */
  VALIDATOR_HOTKEY: z.string().min(40).max(64).optional(),
  /** Reverse proxies in front of the gateway whose X-Forwarded-For entries are trusted (0: use the socket address). */
  TRUST_PROXY_HOPS: env.int(0, 16).default(0),
});

export type GatewayEnv = z.infer<typeof gatewayEnvSchema>;

export interface GatewayConfig {
  logLevel: string;
  natsServers: string[];
  redisUrl: string;
  netuid: number;
  chainMode: 'local' | 'subtensor';
  validatorHotkey?: string;
  http: { host: string; port: number; maxBodyBytes: number };
  chat: {
    defaultModel: string;
    acceptTimeoutMs: number;
    requestTimeoutMs: number;
    idleTimeoutMs: number;
    defaultMaxTokens: number;
    maxTokensLimit: number;
    modelDirs: string[];
  };
  conversations: {
    ttlSeconds: number;
    maxChars: number;
    maxMessages: number;
    contextTokens: number;
    charsPerToken: number;
  };
  access: {
    anonymous: boolean;
    anonymousLimits: RateLimits;
    keyDefaultLimits: RateLimits;
    adminToken?: string;
    sessionSecret?: string;
    trustProxyHops: number;
  };
}

export interface RateLimits {
  requestsPerMinute: number;
  tokensPerMinute: number;
}

export function loadGatewayConfig(source: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const e = parseEnv(gatewayEnvSchema, source);
  return {
    logLevel: e.LOG_LEVEL,
    natsServers: e.NATS_URL,
    redisUrl: e.REDIS_URL,
    netuid: e.NETUID,
    chainMode: e.CHAIN_MODE,
    validatorHotkey: e.VALIDATOR_HOTKEY,
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT, maxBodyBytes: e.MAX_BODY_BYTES },
    chat: {
      defaultModel: e.DEFAULT_MODEL,
      acceptTimeoutMs: e.ACCEPT_TIMEOUT_MS,
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      idleTimeoutMs: e.IDLE_TIMEOUT_MS,
      defaultMaxTokens: e.DEFAULT_MAX_TOKENS,
      maxTokensLimit: e.MAX_TOKENS_LIMIT,
      modelDirs: (e.MODEL_DIRS ?? '')
        .split(',')
        .map((dir) => dir.trim())
        .filter((dir) => dir.length > 0),
    },
    conversations: {
      ttlSeconds: e.CONVERSATION_TTL_SECONDS,
      maxChars: e.CONVERSATION_MAX_CHARS,
      maxMessages: e.CONVERSATION_MAX_MESSAGES,
      contextTokens: e.CONTEXT_TOKENS,
      charsPerToken: e.CHARS_PER_TOKEN,
    },
    access: {
      anonymous: e.ANONYMOUS_ACCESS,
      anonymousLimits: {
        requestsPerMinute: e.ANONYMOUS_REQUESTS_PER_MINUTE,
        tokensPerMinute: e.ANONYMOUS_TOKENS_PER_MINUTE,
      },
      keyDefaultLimits: {
        requestsPerMinute: e.KEY_REQUESTS_PER_MINUTE,
        tokensPerMinute: e.KEY_TOKENS_PER_MINUTE,
      },
      adminToken: e.ADMIN_TOKEN,
      sessionSecret: e.SESSION_SECRET,
      trustProxyHops: e.TRUST_PROXY_HOPS,
    },
  };
}
