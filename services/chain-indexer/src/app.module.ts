import { Module, type DynamicModule } from '@nestjs/common';
import { NatsModule, OpsModule, RedisModule } from '@chattensor/common';
import type { ChainIndexerConfig } from './config/chain-indexer.config';
import { PublisherModule } from './metagraph/publisher.module';
import { QueryModule } from './query/query.module';
import { LocalRegistryService } from './registry/local-registry.service';
import { SubtensorModule } from './subtensor/subtensor.module';
import { LocalWeightsHandler } from './weights/local-weights.handler';

/** Standalone mode reads announcements; chain mode follows Subtensor. Both publish the same snapshots. */
@Module({})
export class ChainIndexerModule {
  static forRoot(config: ChainIndexerConfig): DynamicModule {
    const mode =
      config.chainMode === 'subtensor' && config.subtensor
        ? { imports: [SubtensorModule.forRoot(config.subtensor)], providers: [] }
        : { imports: [], providers: [LocalRegistryService, LocalWeightsHandler] };
    return {
      module: ChainIndexerModule,
      imports: [
        OpsModule,
        NatsModule.forRoot({ servers: config.natsServers, name: 'chain-indexer' }),
        RedisModule.forRoot({ url: config.redisUrl, name: 'chain-indexer' }),
        PublisherModule.forRoot(config),
        QueryModule.forRoot(config.query),
        ...mode.imports,
      ],
      providers: mode.providers,
    };
  }
}
