import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ReadinessRegistry } from '@chattensor/common';
import { MINER_CONFIG, type MinerConfig } from '../config/miner.config';
import { MinerAxonServer } from './miner-axon.server';

/**
 * Where the axon is served (chain mode), it is the miner's public endpoint:
 * validators dial it at the address registered on chain. A pod whose axon is
 * not listening must not be ready, or a Service would send validators to it.
 */
@Injectable()
export class AxonReadiness implements OnModuleInit {
  constructor(
    @Inject(MINER_CONFIG) private readonly config: MinerConfig,
    private readonly readiness: ReadinessRegistry,
    private readonly server: MinerAxonServer,
  ) {}

  onModuleInit(): void {
    if (!this.config.axon.enabled) return;
    this.readiness.register('axon', () =>
      this.server.port > 0 ? true : `the axon is not listening on port ${this.config.axon.port}`,
    );
  }
}
