import { Module, type DynamicModule } from '@nestjs/common';
import { NatsModule, OpsModule, RedisModule } from '@chattensor/common';
import { MetagraphModule } from '@chattensor/protocol';
import { VALIDATOR_CONFIG } from './config/config.token';
import type { ValidatorConfig } from './config/validator.config';
import { ValidatorIdentity } from './identity/validator-identity';
import { MinerClient } from './miners/miner-client';
import { MinerSelector } from './miners/miner-selector';
import { MinerHealth } from './miners/miner-health';
import { ScoreBook } from './scores/score-book.service';
import { ScoreHistory } from './scores/score-history';
import { ScoreReporter } from './scores/score-reporter.service';
import { SubnetLifecycle } from './scores/subnet-lifecycle.service';
import { ChatJobHandler } from './jobs/chat-job.handler';
import { WeightSetter } from './weights/weight-setter.service';
import { AnswerScoring } from './verification/answer-scoring.service';
import { AnswerVerification } from './verification/answer-verification.service';
import { ExclusionList } from './verification/exclusion-list.service';
import { SyntheticTraffic } from './synthetic/synthetic-traffic.service';

@Module({})
export class ValidatorModule {
  static forRoot(config: ValidatorConfig, identity: ValidatorIdentity): DynamicModule {
    return {
      module: ValidatorModule,
      imports: [
        OpsModule,
        NatsModule.forRoot({ servers: config.natsServers, name: 'validator' }),
        RedisModule.forRoot({ url: config.redisUrl, name: 'validator' }),
        MetagraphModule.forRoot(config.netuid),
      ],
      providers: [
        { provide: VALIDATOR_CONFIG, useValue: config },
        { provide: ValidatorIdentity, useValue: identity },
        MinerClient,
        MinerHealth,
        MinerSelector,
        ScoreBook,
        ScoreHistory,
        ScoreReporter,
        SubnetLifecycle,
        ChatJobHandler,
        WeightSetter,
        ExclusionList,
        AnswerVerification,
        AnswerScoring,
        SyntheticTraffic,
      ],
    };
  }
}
