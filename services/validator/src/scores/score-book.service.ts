import { Inject, Injectable } from '@nestjs/common';
import { RedisService, redisKey, gauge } from '@chattensor/common';
import { emaUpdate } from '@chattensor/scoring';
import { VALIDATOR_CONFIG } from '../config/config.token';
import type { ValidatorConfig } from '../config/validator.config';
import { CachedNumberHash } from './cached-hash.util';

const SCORES_CACHE_MS = 1000;

export interface MinerScore {
  uid: number;
  hotkey: string;
  score: number;
}

/**
 * Moving-average score per miner, shared by every validator replica in one
 * Redis hash (`chattensor:validator:scores:<netuid>`, field `<uid>:<hotkey>`,
 * owned by the validator, no TTL: it is the validator's memory of the
 * miners). The field includes the hotkey, so a uid that changes hands starts
 * from zero. Updates are atomic (a Lua script), so concurrent replicas never
 * lose an observation.
 */
@Injectable()
export class ScoreBook {
  private readonly key: string;
  private readonly hash: CachedNumberHash;
  private readonly alpha: number;
  private readonly scoreGauge = gauge({
    name: 'chattensor_validator_miner_score',
    help: 'Moving-average score of each miner',
    labelNames: ['uid', 'hotkey'],
  });

  // KEYS[1] hash; ARGV: field, reward, alpha. Same formula as emaUpdate().
  private static readonly UPDATE = `
    local previous = redis.call('HGET', KEYS[1], ARGV[1])
    local reward = tonumber(ARGV[2])
    local alpha = tonumber(ARGV[3])
    local score
    if previous then score = alpha * reward + (1 - alpha) * tonumber(previous) else score = alpha * reward end
    redis.call('HSET', KEYS[1], ARGV[1], tostring(score))
    return tostring(score)`;

  constructor(
    private readonly redis: RedisService,
    @Inject(VALIDATOR_CONFIG) config: ValidatorConfig,
  ) {
    this.key = redisKey('validator', 'scores', config.netuid);
    this.hash = new CachedNumberHash(() => this.redis.client.hgetall(this.key), SCORES_CACHE_MS);
    this.alpha = config.scoring.emaAlpha;
    emaUpdate(undefined, 0, this.alpha); // validates alpha once, at start
  }

  async record(uid: number, hotkey: string, reward: number): Promise<number> {
    const score = Number(
      await this.redis.client.eval(
        ScoreBook.UPDATE,
        1,
        this.key,
        `${uid}:${hotkey}`,
        String(reward),
        String(this.alpha),
      ),
    );
    this.scoreGauge.set({ uid: String(uid), hotkey }, score);
    this.hash.invalidate();
    return score;
  }

  /** Drops every score of the netuid: its subnet is gone, and a new registration starts from zero. */
  async forgetAll(): Promise<void> {
    await this.redis.client.del(this.key);
    this.scoreGauge.reset();
    this.hash.invalidate();
  }

  /**
   * Scores of the given (uid, hotkey) pairs; a miner never scored has 0.
   * Read from a copy of the hash at most SCORES_CACHE_MS old, so picking
   * miners adds no Redis round trip to most requests; one read refreshes it
   * for every job of that moment.
   */
  async scoresOf(miners: { uid: number; hotkey: string }[]): Promise<MinerScore[]> {
    if (miners.length === 0) return [];
    const scores = await this.hash.get();
    return miners.map((m) => ({
      uid: m.uid,
      hotkey: m.hotkey,
      score: scores.get(`${m.uid}:${m.hotkey}`) ?? 0,
    }));
  }
}
