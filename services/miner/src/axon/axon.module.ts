import { Module, type DynamicModule } from '@nestjs/common';
import { AXON_CONFIG, loadAxonConfig, type AxonConfig } from './axon.config';
import { MinerAxonServer } from './miner-axon.server';
import { StreamPromptingHandler } from './stream-prompting.handler';
import { ChatCompletionsEndpoint } from './chat-completions.endpoint';
import { MinerNonceStore } from './miner-nonce-store';

/**
 * The miner's public port: the OpenAI-compatible API behind btauth/1 and,
 * as a legacy option, the SDK-10 axon. It needs GenerationService,
 * CallerPolicy and MinerIdentity from the module that imports it; that module
 * is global and exports them.
 */
@Module({})
export class AxonModule {
  static forRoot(config: AxonConfig = loadAxonConfig()): DynamicModule {
    return {
      module: AxonModule,
      providers: [
        { provide: AXON_CONFIG, useValue: config },
        MinerNonceStore,
        ChatCompletionsEndpoint,
        StreamPromptingHandler,
        MinerAxonServer,
      ],
      exports: [MinerAxonServer],
    };
  }
}
