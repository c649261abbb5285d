import type { Redis } from 'ioredis';
import { AppError, ErrorCode, redisKey } from '@chattensor/common';
import type { RateLimits } from '../config/gateway.config';

/**
 * Two token buckets per caller (requests and tokens per minute), refilled
 * continuously, read and written by one Lua script so that every gateway
 * replica sharing the Redis sees the same buckets and no two admissions race.
 * The clock is Redis's own (TIME), so replicas with skewed clocks agree too.
 *
 * KEYS[1] requests bucket, KEYS[2] tokens bucket (hashes: level, at)
 * ARGV[1] requests per minute, ARGV[2] tokens per minute,
 * ARGV[3] 'admit' | 'charge', ARGV[4] tokens to take (may be negative on charge)
 * Returns { admitted (1|0), retry after ms, requests left, tokens left }.
 */
const BUCKET_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local function level(key, capacity)
  local state = redis.call('HMGET', key, 'level', 'at')
  local value, at = tonumber(state[1]), tonumber(state[2])
  if value == nil or at == nil then return capacity end
  return math.min(capacity, value + math.max(0, now - at) * capacity / 60000)
end
local function store(key, value)
  redis.call('HSET', key, 'level', tostring(value), 'at', tostring(now))
  redis.call('PEXPIRE', key, 120000)
end
local rpm, tpm, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local tokens = level(KEYS[2], tpm)
if ARGV[3] == 'charge' then
  tokens = tokens - cost
  store(KEYS[2], tokens)
  return {1, 0, -1, math.floor(tokens)}
end
local requests = level(KEYS[1], rpm)
local wait = 0
if requests < 1 then wait = math.ceil((1 - requests) * 60000 / rpm) end
-- A request bigger than the whole bucket may still pass once the bucket is full.
local need = math.min(cost, tpm)
if tokens < need then wait = math.max(wait, math.ceil((need - tokens) * 60000 / tpm)) end
if wait > 0 then return {0, wait, math.floor(requests), math.floor(tokens)} end
store(KEYS[1], requests - 1)
store(KEYS[2], tokens - cost)
return {1, 0, math.floor(requests - 1), math.floor(tokens - cost)}
`;

/** A caller's two buckets after an admission (or a refusal): what the `x-ratelimit-*` headers report. */
export interface Admission {
  limits: RateLimits;
  remainingRequests: number;
  remainingTokens: number;
  /** Time until the requests bucket is full again. */
  resetRequestsMs: number;
  /** Time until the tokens bucket is full again (may exceed a minute after an overshoot). */
  resetTokensMs: number;
}

/** 429 from the caller's own limits, with the buckets' state for the headers. */
export class RateLimitExceeded extends AppError {
  constructor(
    message: string,
    retryAfterSeconds: number,
    readonly state: Admission,
  ) {
    super(ErrorCode.RateLimited, message, { retryAfterSeconds, reason: 'rate_limit_exceeded' });
  }
}

function stateOf(limits: RateLimits, requests: number, tokens: number): Admission {
  const refill = (capacity: number, level: number) =>
    Math.max(0, Math.ceil(((capacity - level) * 60_000) / capacity));
  return {
    limits,
    remainingRequests: Math.max(0, requests),
    remainingTokens: Math.max(0, tokens),
    resetRequestsMs: refill(limits.requestsPerMinute, requests),
    resetTokensMs: refill(limits.tokensPerMinute, tokens),
  };
}

/** A duration as OpenAI writes it in `x-ratelimit-reset-*`: `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`. */
export function formatReset(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = Number(((total % 60_000) / 1000).toFixed(3));
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** The `x-ratelimit-*` headers OpenAI sends, for a caller's buckets. */
export function rateLimitHeaders(state: Admission): Record<string, string> {
  return {
    'x-ratelimit-limit-requests': String(state.limits.requestsPerMinute),
    'x-ratelimit-limit-tokens': String(state.limits.tokensPerMinute),
    'x-ratelimit-remaining-requests': String(Math.floor(state.remainingRequests)),
    'x-ratelimit-remaining-tokens': String(Math.floor(state.remainingTokens)),
    'x-ratelimit-reset-requests': formatReset(state.resetRequestsMs),
    'x-ratelimit-reset-tokens': formatReset(state.resetTokensMs),
  };
}

/** Redis client with the bucket script registered as a command. */
type BucketRedis = Redis & {
  chattensorBucket(
    requestsKey: string,
    tokensKey: string,
    rpm: number,
    tpm: number,
    mode: 'admit' | 'charge',
    cost: number,
  ): Promise<number[]>;
};

/**
 * Per-caller request and token rates. `admit` takes one request and the
 * request's estimated tokens, or throws RateLimited with the wait until it
 * would pass; `charge` settles the difference once the real usage is known
 * (the token bucket may go below zero then, which delays the caller's next
 * request instead of forgiving the overshoot).
 */
export class RateLimiter {
  private readonly redis: BucketRedis;

  constructor(redis: Redis) {
    if (!('chattensorBucket' in redis))
      redis.defineCommand('chattensorBucket', { numberOfKeys: 2, lua: BUCKET_SCRIPT });
    this.redis = redis as BucketRedis;
  }

  private keys(subject: string): [string, string] {
    // The hash tag keeps both buckets in one Redis Cluster slot, which a multi-key script needs.
    const base = redisKey('gateway', 'ratelimit', `{${subject}}`);
    return [`${base}:requests`, `${base}:tokens`];
  }

  async admit(subject: string, limits: RateLimits, estimatedTokens: number): Promise<Admission> {
    const [requestsKey, tokensKey] = this.keys(subject);
    const [admitted, waitMs, requests, tokens] = await this.redis.chattensorBucket(
      requestsKey,
      tokensKey,
      limits.requestsPerMinute,
      limits.tokensPerMinute,
      'admit',
      Math.max(0, Math.ceil(estimatedTokens)),
    );
    if (admitted !== 1) {
      const which =
        requests < 1 ? `${limits.requestsPerMinute} requests` : `${limits.tokensPerMinute} tokens`;
      throw new RateLimitExceeded(
        `Rate limit reached: ${which} per minute. Try again in ${Math.ceil(waitMs / 1000)} s.`,
        Math.max(1, Math.ceil(waitMs / 1000)),
        stateOf(limits, requests, tokens),
      );
    }
    return stateOf(limits, requests, tokens);
  }

  async charge(subject: string, limits: RateLimits, tokens: number): Promise<void> {
    if (tokens === 0) return;
    const [requestsKey, tokensKey] = this.keys(subject);
    await this.redis.chattensorBucket(
      requestsKey,
      tokensKey,
      limits.requestsPerMinute,
      limits.tokensPerMinute,
      'charge',
      Math.round(tokens),
    );
  }
}
