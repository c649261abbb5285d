import { Inject, Injectable } from '@nestjs/common';
import { RedisService, redisKey } from '@chattensor/common';
import { VALIDATOR_CONFIG } from '../config/config.token';
import type { ValidatorConfig } from '../config/validator.config';

/**
 * Recent scores of each miner for the status page's chart, in Redis so that
 * every replica (and one just restarted) draws the same curve: one capped
 * list per miner, `chattensor:validator:score-history:<netuid>:<uid>:<hotkey>`
 * (oldest first, at most SCORE_HISTORY_SAMPLES of them, one per
 * SCORE_HISTORY_INTERVAL_SECONDS), and the time of the
 * last sample in `chattensor:validator:score-history:<netuid>`. Every key
 * expires after a whole chart's span without a sample, so a miner that left
 * the metagraph leaves nothing behind; the hotkey is part of the key, so a
 * uid that changes hands starts a new curve.
 */
@Injectable()
export class ScoreHistory {
  readonly intervalMs: number;
  private readonly length: number;
  private readonly prefix: string;

  // KEYS[1] time of the last sample, KEYS[2..] one list per miner.
  // ARGV: now, interval, length, ttl, then one score per list.
  // Whichever replica comes first in an interval adds the samples; the others find it done.
  private static readonly OBSERVE = `
    local now = tonumber(ARGV[1])
    local last = tonumber(redis.call('GET', KEYS[1]))
    if last and now - last < tonumber(ARGV[2]) then return 0 end
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
    for i = 2, #KEYS do
      redis.call('RPUSH', KEYS[i], ARGV[i + 3])
      redis.call('LTRIM', KEYS[i], -tonumber(ARGV[3]), -1)
      redis.call('PEXPIRE', KEYS[i], ARGV[4])
    end
    return 1`;

  constructor(
    private readonly redis: RedisService,
    @Inject(VALIDATOR_CONFIG) config: Pick<ValidatorConfig, 'netuid' | 'scoreHistory'>,
  ) {
    this.prefix = redisKey('validator', 'score-history', config.netuid);
    this.intervalMs = config.scoreHistory.intervalMs;
    this.length = config.scoreHistory.length;
  }

  /**
   * Adds a sample per miner when an interval has passed since the last one
   * any replica added. Returns whether this call added it.
   */
  async observe(
    scores: { uid: number; hotkey: string; score: number }[],
    now = Date.now(),
  ): Promise<boolean> {
    const added = await this.redis.client.eval(
      ScoreHistory.OBSERVE,
      1 + scores.length,
      this.prefix,
      ...scores.map((s) => this.keyOf(s.uid, s.hotkey)),
      String(now),
      String(this.intervalMs),
      String(this.length),
      String(this.intervalMs * this.length),
      ...scores.map((s) => String(s.score)),
    );
    return added === 1;
  }

  /** The samples of each miner, oldest first, in the order given; one Redis round trip. */
  async of(miners: { uid: number; hotkey: string }[]): Promise<number[][]> {
    if (miners.length === 0) return [];
    const pipeline = this.redis.client.pipeline();
    for (const m of miners) pipeline.lrange(this.keyOf(m.uid, m.hotkey), 0, -1);
    const results = (await pipeline.exec()) ?? [];
    return miners.map((_, i) => {
      const [error, values] = results[i] ?? [null, []];
      if (error) throw error;
      return (values as string[]).map(Number);
    });
  }

  /** Drops every curve of the netuid: its subnet is gone (see SubnetLifecycle). */
  async forgetAll(): Promise<void> {
    const keys: string[] = [this.prefix];
    let cursor = '0';
    do {
      const [next, found] = await this.redis.client.scan(cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', 500);
      keys.push(...found);
      cursor = next;
    } while (cursor !== '0');
    await this.redis.client.del(...keys);
  }

  private keyOf(uid: number, hotkey: string): string {
    return `${this.prefix}:${uid}:${hotkey}`;
  }
}
