import { Module, type DynamicModule } from '@nestjs/common';
import { AXON_CONFIG, loadAxonConfig, type AxonConfig } from './axon.config';
import { MinerAxonServer } from './miner-axon.server';
import { StreamPromptingHandler } from './stream-prompting.handler';

/**
 * The miner's Bittensor axon endpoint. It needs GenerationService,
 * CallerPolicy and MinerIdentity from the module that imports it; that module
 * is global and exports them.
 */
@Module({})
export class AxonModule {
  static forRoot(config: AxonConfig = loadAxonConfig()): DynamicModule {
    return {
      module: AxonModule,
      providers: [{ provide: AXON_CONFIG, useValue: config }, StreamPromptingHandler, MinerAxonServer],
      exports: [MinerAxonServer],
    };
  }
}
