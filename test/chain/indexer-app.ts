/** Boots the subtensor half of the chain-indexer (and its gRPC query API) against real NATS, Redis and a Subtensor node. */

import { Global, Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NatsModule, OpsModule, RedisModule, createRootLogger } from '@chattensor/common';
import { loadChainIndexerConfig } from '../../services/chain-indexer/src/config/chain-indexer.config';
import { CHAIN_INDEXER_CONFIG } from '../../services/chain-indexer/src/config/config.token';
import { MetagraphPublisher } from '../../services/chain-indexer/src/metagraph/metagraph.publisher';
import { QueryModule } from '../../services/chain-indexer/src/query/query.module';
import { SubtensorModule } from '../../services/chain-indexer/src/subtensor/subtensor.module';
import { loadSubtensorConfig } from '../../services/chain-indexer/src/subtensor/subtensor.config';

@Global()
@Module({})
class PublisherModule {
  static forRoot(env: NodeJS.ProcessEnv): DynamicModule {
    return {
      module: PublisherModule,
      providers: [
        { provide: CHAIN_INDEXER_CONFIG, useValue: loadChainIndexerConfig(env) },
        MetagraphPublisher,
      ],
      exports: [MetagraphPublisher, CHAIN_INDEXER_CONFIG],
    };
  }
}

export async function startIndexer(env: NodeJS.ProcessEnv): Promise<INestApplicationContext> {
  createRootLogger('chain-indexer', env.LOG_LEVEL ?? 'warn');
  const config = loadChainIndexerConfig(env);
  @Module({
    imports: [
      OpsModule,
      NatsModule.forRoot({ servers: config.natsServers, name: 'chain-indexer-test' }),
      RedisModule.forRoot({ url: config.redisUrl, name: 'chain-indexer-test' }),
      PublisherModule.forRoot(env),
      SubtensorModule.forRoot(loadSubtensorConfig(env)),
      QueryModule.forRoot(config.query),
    ],
  })
  class TestIndexerModule {}
  const app = await NestFactory.createApplicationContext(TestIndexerModule, { logger: false });
  app.enableShutdownHooks();
  await app.init();
  return app;
}
