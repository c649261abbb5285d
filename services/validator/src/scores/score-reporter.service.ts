import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { NatsService, rootLogger } from '@chattensor/common';
import { MetagraphWatcher, Subjects, encodeJson, type ValidatorScores } from '@chattensor/protocol';
import { VALIDATOR_CONFIG } from '../config/config.token';
import type { ValidatorConfig } from '../config/validator.config';
import { ValidatorIdentity } from '../identity/validator-identity';
import { ScoreBook } from './score-book.service';
import { MinerHealth } from '../miners/miner-health';
import { ScoreHistory } from './score-history';
import { AnswerVerification } from '../verification/answer-verification.service';
import { ExclusionList } from '../verification/exclusion-list.service';
import { verificationSummary } from '../verification/verification-summary.util';

const REPORT_INTERVAL_MS = 3000;

/**
 * Publishes the scores of the metagraph's miners on `validator.scores.<netuid>`
 * for the gateway's pages, with their verification counts, exclusion and a
 * short score history.
 */
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
    private readonly verification: AnswerVerification,
    private readonly exclusions: ExclusionList,
    private readonly history: ScoreHistory,
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
    // scoresOf keeps the order of the miners it is given.
    const scores = await this.scores.scoresOf(miners);
    await this.history.observe(scores);
    const histories = await this.history.of(scores);
    const ledger = this.verification.enabled
      ? await this.verification.ledger()
      : new Map<string, Record<string, number>>();
    const message: ValidatorScores = {
      v: 1,
      netuid: this.config.netuid,
      validator: this.identity.hotkey.ss58Address,
      at: Date.now(),
      miners: await Promise.all(
        scores.map(async (s, i) => ({
          ...s,
          reachable: !this.health.unreachable(miners[i]),
          verification: this.verification.enabled
            ? verificationSummary(ledger.get(`${s.uid}:${s.hotkey}`))
            : undefined,
          excludedUntil: await this.exclusions.excludedUntil(s.uid, s.hotkey),
          history: histories[i],
        })),
      ),
      historyIntervalMs: this.history.intervalMs,
    };
    this.nats.nc.publish(Subjects.validatorScores(this.config.netuid), encodeJson(message));
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribeHealth?.();
  }
}
