import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AppError, ErrorCode, redisKey } from '@chattensor/common';
import type { RateLimits } from '../config/gateway.config';

/** Every ChatTensor key starts with this, so a key pasted somewhere is recognisable (and a non-key is not mistaken for one). */
export const API_KEY_PREFIX = 'ct-';
const API_KEY_PATTERN = /^ct-[A-Za-z0-9_-]{43}$/;

const storedKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  hint: z.string(),
  createdAt: z.coerce.number().int(),
  requestsPerMinute: z.coerce.number().int().min(1),
  tokensPerMinute: z.coerce.number().int().min(1),
});

/** What the gateway knows about a key: never the key itself, only its SHA-256. */
export type ApiKeyRecord = z.infer<typeof storedKeySchema>;

export interface CreatedApiKey {
  /** Shown once, at creation; only its hash is stored. */
  key: string;
  record: ApiKeyRecord;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** True for strings shaped like a ChatTensor key (a key from another service is not one). */
export function looksLikeApiKey(value: string): boolean {
  return value.startsWith(API_KEY_PREFIX);
}

/**
 * API keys in Redis, owned by the gateway and kept until revoked (no TTL):
 *   chattensor:gateway:apikey:<sha256 of the key>  hash  id, name, hint, createdAt, limits
 *   chattensor:gateway:apikeys                     hash  key id -> sha256 (listing, revocation by id)
 * Works on a plain ioredis client so that the admin CLI and the HTTP API share it.
 */
export class ApiKeyStore {
  constructor(private readonly redis: Redis) {}

  private recordKey(hash: string): string {
    return redisKey('gateway', 'apikey', hash);
  }
  private indexKey(): string {
    return redisKey('gateway', 'apikeys');
  }

  async create(name: string, limits: RateLimits): Promise<CreatedApiKey> {
    const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const hash = hashApiKey(key);
    const record: ApiKeyRecord = {
      id: `key_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      name: name.slice(0, 100),
      hint: `${key.slice(0, 7)}...${key.slice(-4)}`,
      createdAt: Date.now(),
      requestsPerMinute: limits.requestsPerMinute,
      tokensPerMinute: limits.tokensPerMinute,
    };
    const result = await this.redis
      .multi()
      .hset(this.recordKey(hash), { ...record, createdAt: String(record.createdAt) })
      .hset(this.indexKey(), record.id, hash)
      .exec();
    if (!result || result.some(([error]) => error))
      throw new AppError(ErrorCode.Internal, 'storing the API key failed');
    return { key, record };
  }

  /** The key's record, or undefined when the key is malformed, unknown or revoked. */
  async verify(key: string): Promise<ApiKeyRecord | undefined> {
    if (!API_KEY_PATTERN.test(key)) return undefined;
    const raw = await this.redis.hgetall(this.recordKey(hashApiKey(key)));
    const parsed = storedKeySchema.safeParse(raw);
    return parsed.success ? parsed.data : undefined;
  }

  async list(): Promise<ApiKeyRecord[]> {
    const index = await this.redis.hgetall(this.indexKey());
    const entries = Object.entries(index);
    if (entries.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const [, hash] of entries) pipeline.hgetall(this.recordKey(hash));
    const results = (await pipeline.exec()) ?? [];
    return results
      .flatMap(([error, raw]) => {
        const parsed = error ? undefined : storedKeySchema.safeParse(raw);
        return parsed?.success ? [parsed.data] : [];
      })
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Revokes a key by id: the next request with it gets 401. */
  async revoke(id: string): Promise<void> {
    const hash = await this.redis.hget(this.indexKey(), id);
    if (!hash) throw new AppError(ErrorCode.NotFound, `No API key with id '${id}'.`, { param: 'id' });
    await this.redis.multi().del(this.recordKey(hash)).hdel(this.indexKey(), id).exec();
  }
}
