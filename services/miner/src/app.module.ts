import { Module, type DynamicModule } from '@nestjs/common';
import { NatsModule, OpsModule } from '@chattensor/common';
import { MetagraphModule } from '@chattensor/protocol';
import { MINER_CONFIG, type MinerConfig } from './config/miner.config';
import { MinerIdentity } from './identity/miner-identity';
import { GenerationService } from './generation/generation.service';
import { CallerPolicy } from './grpc/caller-policy.service';
import { MinerGrpcServer } from './grpc/miner-grpc.server';
import { AnnouncerService } from './announce/announcer.service';

@Module({})
export class MinerModule {
  static forRoot(config: MinerConfig, identity: MinerIdentity): DynamicModule {
    return {
      module: MinerModule,
      imports: [OpsModule, NatsModule.forRoot({ servers: config.natsServers, name: 'miner' }), MetagraphModule.forRoot(config.netuid)],
      providers: [
        { provide: MINER_CONFIG, useValue: config },
        { provide: MinerIdentity, useValue: identity },
        GenerationService,
        CallerPolicy,
        MinerGrpcServer,
        AnnouncerService,
      ],
    };
  }
}
