import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { NatsService, rootLogger } from '@chattensor/common';
import { Subjects, encodeJson, signedAnnouncement } from '@chattensor/protocol';
import { MINER_CONFIG, type MinerConfig } from '../config/miner.config';
import { MinerIdentity } from '../identity/miner-identity';
import { GenerationService } from '../generation/generation.service';
import { MinerGrpcServer } from '../grpc/miner-grpc.server';

/**
 * Standalone mode: tells the chain-indexer where this miner listens, signed
 * with its hotkey, once the model is warm and then as a heartbeat (a miner
 * that stops announcing drops out of the metagraph).
 */
@Injectable()
export class AnnouncerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'announcer' });
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(MINER_CONFIG) private readonly config: MinerConfig,
    private readonly nats: NatsService,
    private readonly identity: MinerIdentity,
    private readonly generation: GenerationService,
    private readonly grpc: MinerGrpcServer,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.chainMode !== 'local') return;
    this.announce();
    this.timer = setInterval(() => this.announce(), this.config.announce.intervalMs);
    this.timer.unref();
  }

  private announce(): void {
    if (!this.generation.ready || this.nats.nc.isClosed()) return;
    const announcement = signedAnnouncement(this.identity.hotkey, {
      netuid: this.config.netuid,
      role: 'miner',
      host: this.config.announce.host,
      port: this.grpc.port,
      model: this.generation.modelName,
    });
    this.nats.nc.publish(Subjects.registryAnnounce, encodeJson(announcement));
    this.log.debug({ port: this.grpc.port }, 'announced');
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
