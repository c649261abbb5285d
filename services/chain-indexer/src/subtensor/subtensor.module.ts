import { Module, type DynamicModule } from '@nestjs/common';
import { SubtensorConnection } from './chain-connection';
import { ChainFollower } from './chain-follower.service';
import { ExtrinsicWriter } from './extrinsic-writer.service';
import { ExtrinsicsHandler } from './extrinsics.handler';
import { PendingRevealStore } from './pending-reveals.store';
import { SUBTENSOR_CONFIG, loadSubtensorConfig, type SubtensorConfig } from './subtensor.config';
import { SubtensorMetrics } from './subtensor.metrics';

/**
 * `CHAIN_MODE=subtensor`: follows the chain and publishes snapshots through
 * the service's MetagraphPublisher, and is the cluster's extrinsic writer.
 * Needs NatsService, RedisService, ReadinessRegistry and MetagraphPublisher
 * from the importing (global) modules.
 */
@Module({})
export class SubtensorModule {
  static forRoot(config: SubtensorConfig = loadSubtensorConfig()): DynamicModule {
    return {
      module: SubtensorModule,
      providers: [
        { provide: SUBTENSOR_CONFIG, useValue: config },
        SubtensorMetrics,
        SubtensorConnection,
        ChainFollower,
        PendingRevealStore,
        ExtrinsicWriter,
        ExtrinsicsHandler,
      ],
      exports: [SUBTENSOR_CONFIG, SubtensorConnection, ChainFollower, ExtrinsicWriter],
    };
  }
}
