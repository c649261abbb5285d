import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { NatsService, rootLogger } from '@chattensor/common';
import { MetagraphWatcher, Subjects, encodeJson, type ValidatorScores } from '@chattensor/protocol';
import { VALIDATOR_CONFIG } from '../config/config.token';
import type { ValidatorConfig } from '../config/validator.config';
import { ValidatorIdentity } from '../identity/validator-identity';
import { ScoreBook } from './score-book.service';
import { MinerHealth } from '../miners/miner-health';

const REPORT_INTERVAL_MS = 3000;

/** Publishes the scores of the metagraph's miners on `validator.scores.<netuid>` for the gateway's pages. */
@Injectable()
export class ScoreReporter implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'score-reporter' });
  private timer?: NodeJS.Timeout;
  private unsubscribeHealth?: () => void;

  constructor(
    @Inject(VALIDATOR_CONFIG) private readonly config: ValidatorConfig,
    private readonly nats: NatsService,
    private readonly metagraph: MetagraphWatcher,
    private readonly scores: ScoreBook,
    private readonly identity: ValidatorIdentity,
    private readonly health: MinerHealth,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.report().catch((error: unknown) => this.log.warn({ err: error }, 'score report failed'));
    }, REPORT_INTERVAL_MS);
    this.timer.unref();
    // A miner that stops answering shows on the status page at once, not at the next beat.
    this.unsubscribeHealth = this.health.onChange(() => {
      this.report().catch((error: unknown) => this.log.warn({ err: error }, 'score report failed'));
    });
  }

  async report(): Promise<void> {
    const snapshot = this.metagraph.current();
    if (!snapshot || this.nats.nc.isClosed()) return;
    const miners = snapshot.neurons.filter((n) => n.role !== 'validator');
    this.health.retain(miners);
    const message: ValidatorScores = {
      v: 1,
      netuid: this.config.netuid,
      validator: this.identity.hotkey.ss58Address,
      at: Date.now(),
      // scoresOf keeps the order of the miners it is given.
      miners: (await this.scores.scoresOf(miners)).map((m, i) => ({
        ...m,
        reachable: !this.health.unreachable(miners[i]),
      })),
    };
    this.nats.nc.publish(Subjects.validatorScores(this.config.netuid), encodeJson(message));
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribeHealth?.();
  }
}
