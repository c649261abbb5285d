import { Module, type DynamicModule } from '@nestjs/common';
import { NatsModule, OpsModule } from '@chattensor/common';
import { MetagraphModule } from '@chattensor/protocol';
import { MINER_CONFIG, type MinerConfig } from './config/miner.config';
import { MinerIdentity } from './identity/miner-identity';
import { GenerationService } from './generation/generation.service';
import { CallerPolicy } from './grpc/caller-policy.service';
import { MinerGrpcServer } from './grpc/miner-grpc.server';
import { AnnouncerService } from './announce/announcer.service';
import { AxonRegistrationService } from './announce/axon-registration.service';
import { OwnerSigningResponder } from './announce/owner-signing.responder';
import { AxonModule } from './axon/axon.module';
import { AxonReadiness } from './axon/axon-readiness';

@Module({})
export class MinerModule {
  static forRoot(config: MinerConfig, identity: MinerIdentity): DynamicModule {
    return {
      module: MinerModule,
      // Global so the feature modules it imports (the axon) reach its generation, policy and identity.
      global: true,
      imports: [
        OpsModule,
        NatsModule.forRoot({ servers: config.natsServers, name: 'miner' }),
        MetagraphModule.forRoot(config.netuid),
        AxonModule.forRoot(config.axon),
      ],
      providers: [
        { provide: MINER_CONFIG, useValue: config },
        { provide: MinerIdentity, useValue: identity },
        GenerationService,
        CallerPolicy,
        MinerGrpcServer,
        AnnouncerService,
        OwnerSigningResponder,
        AxonRegistrationService,
        AxonReadiness,
      ],
      exports: [MINER_CONFIG, MinerIdentity, GenerationService, CallerPolicy],
    };
  }
}
