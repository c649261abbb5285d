import { Injectable } from '@nestjs/common';
import { RedisService, redisKey } from '@chattensor/common';

/** A hash commit waiting for its reveal window. The salt is what keeps the weights secret until then. */
export interface PendingReveal {
  netuid: number;
  hotkey: string;
  uids: number[];
  weights: number[];
  salt: number[];
  versionKey: number;
  commitHash: string;
  commitBlock: number;
  firstBlock: number;
  lastBlock: number;
}

/** A commit whose window passed long ago is of no use; the key expires after this. */
const TTL_SECONDS = 7 * 24 * 3600;

/**
 * Commits waiting for their reveal, in Redis so that a restarted indexer
 * still reveals what it committed (an unrevealed commit wastes the epoch).
 * Owner: the chain-indexer's writer; key `chattensor:chain-indexer:reveals:<hotkey>`.
 */
@Injectable()
export class PendingRevealStore {
  constructor(private readonly redis: RedisService) {}

  private key(hotkey: string): string {
    return redisKey('chain-indexer', 'reveals', hotkey);
  }

  async add(reveal: PendingReveal): Promise<void> {
    const key = this.key(reveal.hotkey);
    await this.redis.client
      .multi()
      .hset(key, reveal.commitHash, JSON.stringify(reveal))
      .expire(key, TTL_SECONDS)
      .exec();
  }

  async list(hotkey: string): Promise<PendingReveal[]> {
    const all = await this.redis.client.hvals(this.key(hotkey));
    return all.map((raw) => JSON.parse(raw) as PendingReveal).sort((a, b) => a.commitBlock - b.commitBlock);
  }

  async remove(reveal: PendingReveal): Promise<void> {
    await this.redis.client.hdel(this.key(reveal.hotkey), reveal.commitHash);
  }
}
