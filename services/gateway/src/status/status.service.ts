import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from 'nats';
import { NatsService, ReadinessRegistry } from '@chattensor/common';
import {
  MetagraphWatcher,
  Subjects,
  decodeJson,
  validatorScoresSchema,
  type ValidatorScores,
} from '@chattensor/protocol';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';

/** A validator whose last score report is older than this is shown as down. */
const VALIDATOR_STALE_MS = 15_000;

/**
 * What the status page shows: the metagraph (miners, validator, stake,
 * delegation, last weights), the validators' latest scores (from
 * `validator.scores.<netuid>`), and the health each part of the cluster shows
 * through NATS.
 */
@Injectable()
export class StatusService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly reports = new Map<string, ValidatorScores>();
  private subscription?: Subscription;

  constructor(
    private readonly nats: NatsService,
    private readonly metagraph: MetagraphWatcher,
    private readonly readiness: ReadinessRegistry,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.nats.nc.subscribe(Subjects.validatorScores(this.config.netuid), {
      callback: (error, message) => {
        if (error) return;
        const decoded = decodeJson(validatorScoresSchema, message.data);
        if (decoded.ok) this.reports.set(decoded.value.validator, decoded.value);
      },
    });
  }

  onApplicationShutdown(): void {
    this.subscription?.unsubscribe();
  }

  /** The newest score each miner has from any live validator. */
  scoreOf(uid: number, hotkey: string): number | undefined {
    let best: { at: number; score: number } | undefined;
    for (const report of this.liveReports()) {
      const miner = report.miners.find((m) => m.uid === uid && m.hotkey === hotkey);
      if (miner && (!best || report.at > best.at)) best = { at: report.at, score: miner.score };
    }
    return best?.score;
  }

  /** True when a live validator reports that its calls to the miner fail (it probes it until it answers again). */
  unreachable(uid: number, hotkey: string): boolean {
    return this.liveReports().some((report) =>
      report.miners.some((m) => m.uid === uid && m.hotkey === hotkey && m.reachable === false),
    );
  }

  /** The newest live report's entry for a miner: verification counts, exclusion, score history. */
  private reportOf(
    uid: number,
    hotkey: string,
  ): { entry: ValidatorScores['miners'][number]; intervalMs?: number } | undefined {
    let best: { at: number; entry: ValidatorScores['miners'][number]; intervalMs?: number } | undefined;
    for (const report of this.liveReports()) {
      const entry = report.miners.find((m) => m.uid === uid && m.hotkey === hotkey);
      if (entry && (!best || report.at > best.at))
        best = { at: report.at, entry, intervalMs: report.historyIntervalMs };
    }
    return best;
  }

  private liveReports(): ValidatorScores[] {
    const cutoff = Date.now() - VALIDATOR_STALE_MS;
    return [...this.reports.values()].filter((r) => r.at >= cutoff);
  }

  async status() {
    const snapshot = this.metagraph.current();
    const gateway = await this.readiness.report();
    const live = this.liveReports();
    const validators = (snapshot?.neurons ?? []).filter((n) => n.validatorPermit || n.role === 'validator');
    // A miner the validators cannot reach is shown inactive at once, before the metagraph drops it.
    const miners = (snapshot?.neurons ?? [])
      .filter((n) => !(n.validatorPermit || n.role === 'validator'))
      .map((n) => (n.active && this.unreachable(n.uid, n.hotkey) ? { ...n, active: false } : n));
    const weights = new Map(
      (snapshot?.lastWeights?.uids ?? []).map((uid, i) => [uid, snapshot!.lastWeights!.weights[i]]),
    );
    const ours =
      this.config.validatorHotkey ??
      snapshot?.delegate?.hotkey ??
      [...live].sort((a, b) => b.at - a.at)[0]?.validator ??
      validators[0]?.hotkey;
    const ourNeuron = validators.find((v) => v.hotkey === ours);
    const delegate = snapshot?.delegate && snapshot.delegate.hotkey === ours ? snapshot.delegate : undefined;
    return {
      netuid: this.config.netuid,
      mode: this.config.chainMode,
      block: snapshot?.block ?? null,
      validator: ours
        ? {
            hotkey: ours,
            uid: ourNeuron?.uid ?? null,
            stake: ourNeuron?.stake ?? null,
            take: delegate?.take ?? null,
            total_stake: delegate?.totalStake ?? null,
            nominators: delegate?.nominators.length ?? null,
            reporting: live.some((r) => r.validator === ours),
            delegate_command: `btcli stake add --netuid ${this.config.netuid} --include-hotkeys ${ours} --amount <TAO>`,
          }
        : null,
      updated_at: snapshot?.updatedAt ?? null,
      hyperparameters: snapshot?.hyperparameters ?? {},
      delegate: snapshot?.delegate ?? null,
      last_weights: snapshot?.lastWeights ?? null,
      validators: validators.map((v) => ({
        uid: v.uid,
        hotkey: v.hotkey,
        stake: v.stake,
        validator_permit: v.validatorPermit,
        reporting: live.some((r) => r.validator === v.hotkey),
      })),
      miners: miners.map((m) => {
        const report = this.reportOf(m.uid, m.hotkey);
        return {
          uid: m.uid,
          hotkey: m.hotkey,
          model: m.model ?? null,
          endpoint: m.axon ? `${m.axon.ip}:${m.axon.port}` : null,
          active: m.active,
          score: this.scoreOf(m.uid, m.hotkey) ?? null,
          weight: weights.get(m.uid) ?? null,
          incentive: m.incentive ?? null,
          verification: report?.entry.verification
            ? {
                verified: report.entry.verification.verified,
                failed: report.entry.verification.failed,
                synthetic_verified: report.entry.verification.syntheticVerified,
                synthetic_failed: report.entry.verification.syntheticFailed,
              }
            : null,
          excluded_until: report?.entry.excludedUntil ?? null,
          score_history: report?.entry.history ?? [],
          score_history_interval_ms: report?.intervalMs ?? null,
        };
      }),
      health: {
        gateway: gateway.ready ? 'up' : 'degraded',
        chain_indexer:
          snapshot && Date.now() - snapshot.updatedAt < 10 * 60_000 ? 'up' : snapshot ? 'stale' : 'down',
        validators: live.length > 0 ? 'up' : 'down',
        miners: miners.some((m) => m.active) ? 'up' : 'down',
        checks: gateway.checks,
      },
    };
  }
}
