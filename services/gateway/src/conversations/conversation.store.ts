import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AppError, ErrorCode, RedisService, redisKey } from '@chattensor/common';
import { minerRefSchema } from '@chattensor/protocol';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';

export const storedMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
  at: z.number().int(),
  miner: minerRefSchema.extend({ score: z.number().optional() }).optional(),
  /** An answer the user stopped while it streamed: what had arrived by then. */
  stopped: z.boolean().optional(),
});
export type StoredMessage = z.infer<typeof storedMessageSchema>;

const DEFAULT_TITLE = 'New conversation';

export interface ConversationMeta {
  id: string;
  owner: string;
  title: string;
  createdAt: number;
  updatedAt: number;
}

/**
 * Conversations in Redis, owned by the gateway, each key with the configured
 * TTL (renewed on every exchange):
 *   chattensor:gateway:conversation:<id>           hash  owner, title, createdAt, updatedAt
 *   chattensor:gateway:conversation:<id>:messages  list  JSON turns, oldest first
 *   chattensor:gateway:conversations:<owner>       zset  ids by updatedAt
 * An exchange is written by one Lua script (see `append`), and Redis (with
 * its append-only file) is the only copy, so a gateway restart loses nothing
 * that was acknowledged. Single Redis or replicated Redis, not Cluster: the
 * owner index and a conversation's keys are written together.
 */
@Injectable()
export class ConversationStore {
  constructor(
    private readonly redis: RedisService,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {
    if (!('chattensorAppendExchange' in redis.client)) {
      redis.client.defineCommand('chattensorAppendExchange', {
        numberOfKeys: 3,
        lua: APPEND_EXCHANGE_SCRIPT,
      });
    }
  }

  private metaKey(id: string): string {
    return redisKey('gateway', 'conversation', id);
  }
  private messagesKey(id: string): string {
    return redisKey('gateway', 'conversation', id, 'messages');
  }
  private ownerKey(owner: string): string {
    return redisKey('gateway', 'conversations', owner);
  }

  async create(owner: string, title = DEFAULT_TITLE): Promise<ConversationMeta> {
    const now = Date.now();
    const meta: ConversationMeta = {
      id: `conv_${randomUUID().replace(/-/g, '')}`,
      owner,
      title: title.slice(0, 200),
      createdAt: now,
      updatedAt: now,
    };
    const ttl = this.config.conversations.ttlSeconds;
    await this.redis.client
      .multi()
      .hset(this.metaKey(meta.id), {
        owner,
        title: meta.title,
        createdAt: String(now),
        updatedAt: String(now),
      })
      .expire(this.metaKey(meta.id), ttl)
      .zadd(this.ownerKey(owner), now, meta.id)
      .expire(this.ownerKey(owner), ttl)
      .exec();
    return meta;
  }

  /** The conversation if it exists and belongs to `owner`; NotFound otherwise (no hint that it exists). */
  async get(id: string, owner: string): Promise<ConversationMeta> {
    const raw = await this.redis.client.hgetall(this.metaKey(id));
    if (!raw.owner || raw.owner !== owner)
      throw new AppError(ErrorCode.NotFound, `No conversation found with id '${id}'.`, {
        param: 'conversation_id',
      });
    return {
      id,
      owner: raw.owner,
      title: raw.title ?? '',
      createdAt: Number(raw.createdAt),
      updatedAt: Number(raw.updatedAt),
    };
  }

  async messages(id: string, owner: string): Promise<StoredMessage[]> {
    await this.get(id, owner);
    const raw = await this.redis.client.lrange(this.messagesKey(id), 0, -1);
    return raw.flatMap((item) => {
      const parsed = storedMessageSchema.safeParse(JSON.parse(item));
      return parsed.success ? [parsed.data] : [];
    });
  }

  async list(owner: string, limit = 100): Promise<ConversationMeta[]> {
    const ids = await this.redis.client.zrevrange(this.ownerKey(owner), 0, limit - 1);
    const metas = await Promise.all(ids.map((id) => this.get(id, owner).catch(() => undefined)));
    const live = metas.filter((m): m is ConversationMeta => m !== undefined);
    const expired = ids.filter((id) => !live.some((m) => m.id === id));
    if (expired.length > 0) await this.redis.client.zrem(this.ownerKey(owner), ...expired);
    return live;
  }

  async delete(id: string, owner: string): Promise<void> {
    await this.get(id, owner);
    await this.redis.client
      .multi()
      .del(this.metaKey(id), this.messagesKey(id))
      .zrem(this.ownerKey(owner), id)
      .exec();
  }

  /**
   * Appends one exchange (the request's new turns and the answer), or with
   * `replaceLastAnswer` swaps the stored last answer for a regenerated one.
   * One script: the ownership check, the write, the trim to
   * CONVERSATION_MAX_MESSAGES, the title and the TTLs happen together or not
   * at all, so a reader never sees half an exchange and a deletion racing
   * with an answer cannot resurrect the conversation.
   */
  async append(
    id: string,
    owner: string,
    turns: StoredMessage[],
    options: { replaceLastAnswer?: boolean } = {},
  ): Promise<void> {
    if (turns.length === 0) return;
    const firstUser = turns.find((t) => t.role === 'user');
    const stored = await (this.redis.client as ScriptedRedis).chattensorAppendExchange(
      this.metaKey(id),
      this.messagesKey(id),
      this.ownerKey(owner),
      owner,
      String(Date.now()),
      String(this.config.conversations.ttlSeconds),
      String(this.config.conversations.maxMessages),
      firstUser ? titleFrom(firstUser.content) : '',
      options.replaceLastAnswer ? 'replace' : 'append',
      ...turns.map((t) => JSON.stringify(t)),
    );
    if (stored !== 1)
      throw new AppError(ErrorCode.NotFound, `No conversation found with id '${id}'.`, {
        param: 'conversation_id',
      });
  }
}

/**
 * KEYS: meta hash, messages list, owner index. ARGV: owner, now, ttl seconds,
 * max messages, title candidate, 'append' | 'replace', turns (JSON)...
 */
const APPEND_EXCHANGE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
if ARGV[6] == 'replace' then
  local last = redis.call('LINDEX', KEYS[2], -1)
  if last and cjson.decode(last).role == 'assistant' then
    redis.call('LSET', KEYS[2], -1, ARGV[7])
  else
    redis.call('RPUSH', KEYS[2], ARGV[7])
  end
else
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 7))
end
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[2])
if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'title') == '${DEFAULT_TITLE}' then
  redis.call('HSET', KEYS[1], 'title', ARGV[5])
end
local ttl = tonumber(ARGV[3])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[3], tonumber(ARGV[2]), string.match(KEYS[1], '[^:]+$'))
redis.call('EXPIRE', KEYS[3], ttl)
return 1
`;

type ScriptedRedis = Redis & {
  chattensorAppendExchange(
    metaKey: string,
    messagesKey: string,
    ownerKey: string,
    ...args: string[]
  ): Promise<number>;
};

function titleFrom(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 60 ? `${line.slice(0, 57)}...` : line || DEFAULT_TITLE;
}
