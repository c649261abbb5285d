import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { AppError, ErrorCode, RedisService, redisKey } from '@chattensor/common';
import { minerRefSchema, type ChatTurn } from '@chattensor/protocol';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';

export const storedMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
  at: z.number().int(),
  miner: minerRefSchema.extend({ score: z.number().optional() }).optional(),
});
export type StoredMessage = z.infer<typeof storedMessageSchema>;

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
 * An exchange (the new user turns and the answer) is appended in one
 * MULTI/EXEC, so a reader never sees half of it and a gateway restart loses
 * nothing that was acknowledged.
 */
@Injectable()
export class ConversationStore {
  constructor(
    private readonly redis: RedisService,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  private metaKey(id: string): string {
    return redisKey('gateway', 'conversation', id);
  }
  private messagesKey(id: string): string {
    return redisKey('gateway', 'conversation', id, 'messages');
  }
  private ownerKey(owner: string): string {
    return redisKey('gateway', 'conversations', owner);
  }

  async create(owner: string, title = 'New conversation'): Promise<ConversationMeta> {
    const now = Date.now();
    const meta: ConversationMeta = { id: `conv_${randomUUID().replace(/-/g, '')}`, owner, title: title.slice(0, 200), createdAt: now, updatedAt: now };
    const ttl = this.config.conversations.ttlSeconds;
    await this.redis.client
      .multi()
      .hset(this.metaKey(meta.id), { owner, title: meta.title, createdAt: String(now), updatedAt: String(now) })
      .expire(this.metaKey(meta.id), ttl)
      .zadd(this.ownerKey(owner), now, meta.id)
      .expire(this.ownerKey(owner), ttl)
      .exec();
    return meta;
  }

  /** The conversation if it exists and belongs to `owner`; NotFound otherwise (no hint that it exists). */
  async get(id: string, owner: string): Promise<ConversationMeta> {
    const raw = await this.redis.client.hgetall(this.metaKey(id));
    if (!raw.owner || raw.owner !== owner) throw new AppError(ErrorCode.NotFound, `No conversation found with id '${id}'.`, { param: 'conversation_id' });
    return { id, owner: raw.owner, title: raw.title ?? '', createdAt: Number(raw.createdAt), updatedAt: Number(raw.updatedAt) };
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
    await this.redis.client.multi().del(this.metaKey(id), this.messagesKey(id)).zrem(this.ownerKey(owner), id).exec();
  }

  /** Appends one exchange atomically and renews the TTLs. */
  async append(id: string, owner: string, turns: StoredMessage[]): Promise<void> {
    const meta = await this.get(id, owner);
    const now = Date.now();
    const ttl = this.config.conversations.ttlSeconds;
    const firstUser = turns.find((t) => t.role === 'user');
    const tx = this.redis.client
      .multi()
      .rpush(this.messagesKey(id), ...turns.map((t) => JSON.stringify(t)))
      .hset(this.metaKey(id), 'updatedAt', String(now))
      .expire(this.metaKey(id), ttl)
      .expire(this.messagesKey(id), ttl)
      .zadd(this.ownerKey(owner), now, id)
      .expire(this.ownerKey(owner), ttl);
    if (meta.title === 'New conversation' && firstUser) tx.hset(this.metaKey(id), 'title', titleFrom(firstUser.content));
    const results = await tx.exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed) throw new AppError(ErrorCode.Internal, 'storing the conversation failed', { cause: failed?.[0] });
  }
}

function titleFrom(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 60 ? `${line.slice(0, 57)}...` : line || 'New conversation';
}

/**
 * The history-trimming policy: system turns are always kept; the newest
 * turns (the request's own) are always kept; older turns are dropped oldest
 * first until the conversation fits in `maxChars` characters.
 */
export function fitHistory(history: ChatTurn[], incoming: ChatTurn[], maxChars: number): ChatTurn[] {
  const size = (turns: ChatTurn[]) => turns.reduce((n, t) => n + t.content.length, 0);
  const system = history.filter((t) => t.role === 'system');
  const dialogue = history.filter((t) => t.role !== 'system');
  let budget = maxChars - size(system) - size(incoming);
  const kept: ChatTurn[] = [];
  for (let i = dialogue.length - 1; i >= 0 && budget >= dialogue[i].content.length; i--) {
    budget -= dialogue[i].content.length;
    kept.unshift(dialogue[i]);
  }
  return [...system, ...kept, ...incoming];
}
