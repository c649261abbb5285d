import { Inject, Injectable, Optional, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { InMemoryNonceStore, RedisNonceStore, type BtAuthNonceStore } from '@chattensor/bittensor';
import { ReadinessRegistry, redisKey, rootLogger } from '@chattensor/common';
import { MinerIdentity } from '../identity/miner-identity';
import { AXON_CONFIG, type AxonConfig } from './axon.config';

/** Seen btauth/1 nonces are kept one minute: longer than the 12 s window (10 s back, 2 s ahead). */
const RETENTION_SECONDS = 60;

/**
 * btauth/1 replay state of this miner. With BTAUTH_REDIS_URL every replica
 * behind the hotkey shares it (one `SET NX EX` per accepted request), so a
 * request replayed to another pod is refused too; without it the store is
 * this process's memory, right for a single replica.
 */
@Injectable()
export class MinerNonceStore implements BtAuthNonceStore, OnApplicationShutdown {
  readonly retentionSeconds = RETENTION_SECONDS;
  private readonly store: BtAuthNonceStore;
  private readonly redis?: Redis;

  constructor(
    @Inject(AXON_CONFIG) config: AxonConfig,
    identity: MinerIdentity,
    @Optional() readiness?: ReadinessRegistry,
  ) {
    if (config.nonceRedisUrl) {
      const log = rootLogger().child({ component: 'btauth-nonce-store' });
      this.redis = new Redis(config.nonceRedisUrl, {
        connectionName: 'miner-btauth',
        maxRetriesPerRequest: 1,
        enableOfflineQueue: true,
        retryStrategy: (n) => Math.min(n * 200, 2000),
      });
      this.redis.on('error', (error: Error) => log.warn({ err: error.message }, 'redis error'));
      this.store = new RedisNonceStore(
        this.redis,
        `${redisKey('miner', 'btauth-nonce', identity.hotkey.ss58Address)}:`,
        RETENTION_SECONDS,
      );
      // Without its replay store the public port answers 503: not ready meanwhile.
      const redis = this.redis;
      readiness?.register('btauth-nonce-store', async () =>
        redis.status === 'ready' ? (await redis.ping()) === 'PONG' : `redis ${redis.status}`,
      );
    } else {
      this.store = new InMemoryNonceStore(RETENTION_SECONDS);
    }
  }

  get shared(): boolean {
    return this.redis !== undefined;
  }

  checkAndStore(hotkey: string, nonceNs: bigint): Promise<boolean> | boolean {
    return this.store.checkAndStore(hotkey, nonceNs);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis?.quit().catch(() => this.redis?.disconnect());
  }
}
