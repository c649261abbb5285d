import { Inject, Injectable } from '@nestjs/common';
import { RedisService, redisKey } from '@chattensor/common';
import { VALIDATOR_CONFIG } from '../config/config.token';
import type { ValidatorConfig } from '../config/validator.config';
import { CachedNumberHash } from '../scores/cached-hash.util';

const CACHE_MS = 1000;

/**
 * Miners kept away from user traffic after a failed verification, shared by
 * every replica: Redis hash `chattensor:validator:excluded:<netuid>`, field
 * `<uid>:<hotkey>`, value the end of the exclusion (ms since the epoch). The
 * key expires with the longest exclusion it holds, so it never outlives its
 * content. Synthetic traffic still reaches excluded miners, so they keep
 * being measured.
 */
@Injectable()
export class ExclusionList {
  private readonly key: string;
  private readonly hash: CachedNumberHash;

  constructor(
    private readonly redis: RedisService,
    @Inject(VALIDATOR_CONFIG) private readonly config: ValidatorConfig,
  ) {
    this.key = redisKey('validator', 'excluded', config.netuid);
    this.hash = new CachedNumberHash(() => this.redis.client.hgetall(this.key), CACHE_MS);
  }

  async exclude(uid: number, hotkey: string): Promise<void> {
    const seconds = this.config.verification.exclusionSeconds;
    if (seconds <= 0) return;
    const until = Date.now() + seconds * 1000;
    await this.redis.client
      .multi()
      .hset(this.key, `${uid}:${hotkey}`, String(until))
      // Every exclusion lasts as long, so the newest one always ends last.
      .expire(this.key, seconds)
      .exec();
    this.hash.invalidate();
  }

  /** End of the current exclusion (ms), or undefined when the miner may serve users. */
  async excludedUntil(uid: number, hotkey: string): Promise<number | undefined> {
    const until = (await this.hash.get()).get(`${uid}:${hotkey}`);
    return until !== undefined && until > Date.now() ? until : undefined;
  }

  /** The given miners minus those excluded now. */
  async filter<T extends { uid: number; hotkey: string }>(miners: T[]): Promise<T[]> {
    if (miners.length === 0) return miners;
    const now = Date.now();
    const excluded = await this.hash.get();
    return miners.filter((m) => !((excluded.get(`${m.uid}:${m.hotkey}`) ?? 0) > now));
  }
}
