import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { NatsService } from '@chattensor/common';
import { startAnnouncing } from '@chattensor/protocol';
import { MINER_CONFIG, type MinerConfig } from '../config/miner.config';
import { MinerIdentity } from '../identity/miner-identity';
import { GenerationService } from '../generation/generation.service';
import { MinerGrpcServer } from '../grpc/miner-grpc.server';

/**
 * Standalone mode: tells the chain-indexer where this miner listens once the
 * model is warm, then keeps announcing as a heartbeat.
 */
@Injectable()
export class AnnouncerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private stop?: () => void;

  constructor(
    @Inject(MINER_CONFIG) private readonly config: MinerConfig,
    private readonly nats: NatsService,
    private readonly identity: MinerIdentity,
    private readonly generation: GenerationService,
    private readonly grpc: MinerGrpcServer,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.chainMode !== 'local') return;
    this.stop = startAnnouncing(this.nats.nc, {
      keypair: this.identity.hotkey,
      intervalMs: this.config.announce.intervalMs,
      fields: () =>
        this.generation.ready
          ? {
              netuid: this.config.netuid,
              role: 'miner',
              host: this.config.announce.host,
              port: this.grpc.port,
              model: this.generation.modelName,
            }
          : undefined,
    });
  }

  onApplicationShutdown(): void {
    this.stop?.();
  }
}
