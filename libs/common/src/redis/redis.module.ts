import { Global, Injectable, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { rootLogger } from '../logging/logger';
import { ReadinessRegistry } from '../health/readiness.registry';

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
    readiness.register('redis', async () => (client.status === 'ready' ? (await client.ping()) === 'PONG' : `redis ${client.status}`));
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
            const client = new Redis(options.url, {
              connectionName: options.name,
              lazyConnect: true,
              maxRetriesPerRequest: 2,
              enableOfflineQueue: true,
              retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
              ...(options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {}),
            });
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
