import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { ChainIndexerConfig } from '../config/chain-indexer.config';
import { CHAIN_INDEXER_CONFIG } from '../config/config.token';
import { MetagraphPublisher } from './metagraph.publisher';

/** The publisher and the service config, global so either mode's feature module can use them. */
@Global()
@Module({})
export class PublisherModule {
  static forRoot(config: ChainIndexerConfig): DynamicModule {
    return {
      module: PublisherModule,
      providers: [{ provide: CHAIN_INDEXER_CONFIG, useValue: config }, MetagraphPublisher],
      exports: [CHAIN_INDEXER_CONFIG, MetagraphPublisher],
    };
  }
}
