import { Global, Injectable, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { rootLogger } from '../logging/logger';
import { ReadinessRegistry } from '../health/readiness.registry';
import { parseEnv, redisAuthEnvSchema } from '../config/config.util';

/**
 * The process's Redis client. Keys are namespaced `chattensor:<service>:...`
 * by the callers (see `redisKey`).
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  constructor(
    readonly client: Redis,
    readiness: ReadinessRegistry,
  ) {
    readiness.register('redis', async () =>
      client.status === 'ready' ? (await client.ping()) === 'PONG' : `redis ${client.status}`,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

export function redisKey(service: string, ...parts: (string | number)[]): string {
  return ['chattensor', service, ...parts].join(':');
}

@Global()
@Module({})
export class RedisModule {
  /** `commandTimeoutMs`: a command Redis does not answer in time fails (a hung server is then an outage, not a hang). */
  static forRoot(options: { url: string; name: string; commandTimeoutMs?: number }): DynamicModule {
    return {
      module: RedisModule,
      providers: [
        {
          provide: RedisService,
          inject: [ReadinessRegistry],
          useFactory: async (readiness: ReadinessRegistry) => {
            const log = rootLogger().child({ component: 'redis' });
            // REDIS_PASSWORD / REDIS_USERNAME (validated with the service's config) override the URL's.
            const auth = parseEnv(redisAuthEnvSchema);
            const common: RedisOptions = {
              ...(auth.REDIS_PASSWORD ? { password: auth.REDIS_PASSWORD } : {}),
              ...(auth.REDIS_USERNAME ? { username: auth.REDIS_USERNAME } : {}),
              connectionName: options.name,
              lazyConnect: true,
              maxRetriesPerRequest: 2,
              enableOfflineQueue: true,
              retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
              ...(options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {}),
            };
            const sentinels = auth.REDIS_SENTINELS?.length ? auth.REDIS_SENTINELS : undefined;
            // With sentinels the client asks them for the current primary, and follows a failover.
            const client = sentinels
              ? new Redis({
                  ...common,
                  sentinels: sentinels.map((entry) => {
                    const at = entry.lastIndexOf(':');
                    return { host: entry.slice(0, at), port: Number(entry.slice(at + 1)) };
                  }),
                  name: auth.REDIS_SENTINEL_MASTER,
                  ...(auth.REDIS_PASSWORD ? { sentinelPassword: auth.REDIS_PASSWORD } : {}),
                  ...(options.url.startsWith('rediss:') ? { tls: {}, enableTLSForSentinelMode: true } : {}),
                })
              : new Redis(options.url, common);
            client.on('error', (error: Error) => log.warn({ err: error.message }, 'redis error'));
            await client.connect();
            log.info('connected to Redis');
            return new RedisService(client, readiness);
          },
        },
      ],
      exports: [RedisService],
    };
  }
}
