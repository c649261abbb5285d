import { Module, type DynamicModule } from '@nestjs/common';
import { IndexerGrpcServer } from './indexer-grpc.server';
import { MetagraphQueryService } from './metagraph-query.service';
import { QUERY_CONFIG, loadQueryConfig, type QueryConfig } from './query.config';

/**
 * The gRPC query API (`chattensor.indexer.v1`), in both chain modes. Needs
 * MetagraphPublisher from the importing (global) publisher module.
 */
@Module({})
export class QueryModule {
  static forRoot(config: QueryConfig = loadQueryConfig()): DynamicModule {
    return {
      module: QueryModule,
      providers: [{ provide: QUERY_CONFIG, useValue: config }, MetagraphQueryService, IndexerGrpcServer],
      exports: [IndexerGrpcServer],
    };
  }
}
