import { Module, type DynamicModule } from '@nestjs/common';
import { NatsModule, OpsModule, RedisModule } from '@chattensor/common';
import type { ChainIndexerConfig } from './config/chain-indexer.config';
import { CHAIN_INDEXER_CONFIG } from './config/config.token';
import { MetagraphPublisher } from './metagraph/metagraph.publisher';
import { LocalRegistryService } from './registry/local-registry.service';
import { LocalWeightsHandler } from './weights/local-weights.handler';

@Module({})
export class ChainIndexerModule {
  static forRoot(config: ChainIndexerConfig): DynamicModule {
    const modeProviders = config.chainMode === 'local' ? [LocalRegistryService, LocalWeightsHandler] : [];
    return {
      module: ChainIndexerModule,
      imports: [
        OpsModule,
        NatsModule.forRoot({ servers: config.natsServers, name: 'chain-indexer' }),
        RedisModule.forRoot({ url: config.redisUrl, name: 'chain-indexer' }),
      ],
      providers: [{ provide: CHAIN_INDEXER_CONFIG, useValue: config }, MetagraphPublisher, ...modeProviders],
      exports: [MetagraphPublisher, CHAIN_INDEXER_CONFIG],
    };
  }
}
