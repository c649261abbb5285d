import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { NatsService, RedisService, redisKey, rootLogger, counter, gauge } from '@chattensor/common';
import {
  MetagraphWatcher,
  Subjects,
  decodeJson,
  encodeJson,
  extrinsicOutcomeSchema,
  startAnnouncing,
  type SetWeightsRequest,
} from '@chattensor/protocol';
import { VALIDATOR_CONFIG } from '../config/config.token';
import type { ValidatorConfig } from '../config/validator.config';
import { ValidatorIdentity } from '../identity/validator-identity';
import { scoresToWeights } from '@chattensor/scoring';
import { ScoreBook } from '../scores/score-book.service';
import { conformToSubnet } from './sdk-weights';

/**
 * One replica of the validator cluster is the leader (a Redis lock with a
 * TTL, renewed while alive) and turns the shared scores into weights, sent to
 * the chain-indexer (`chain.extrinsics.set_weights`), the only writer.
 * In standalone mode the validator also announces itself, so the local
 * metagraph (and the status page) know its hotkey.
 */
@Injectable()
export class WeightSetter implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'weight-setter' });
  private readonly token = randomUUID();
  private readonly lockKey: string;
  private timer?: NodeJS.Timeout;
  private stopAnnouncing?: () => void;
  private leader = false;
  private readonly leaderGauge = gauge({
    name: 'chattensor_validator_is_leader',
    help: '1 on the replica that currently sets weights',
  });
  private readonly weightsSet = counter({
    name: 'chattensor_validator_weights_set_total',
    help: 'Weight-setting rounds by outcome',
    labelNames: ['outcome'],
  });
  private readonly lastWeightsTime = gauge({
    name: 'chattensor_validator_last_weights_set_timestamp_seconds',
    help: 'When weights were last accepted by the chain-indexer',
  });
  private readonly weightGauge = gauge({
    name: 'chattensor_validator_miner_weight',
    help: 'Normalised weight last set for each miner',
    labelNames: ['uid'],
  });

  constructor(
    @Inject(VALIDATOR_CONFIG) private readonly config: ValidatorConfig,
    private readonly nats: NatsService,
    private readonly redis: RedisService,
    private readonly metagraph: MetagraphWatcher,
    private readonly scores: ScoreBook,
    private readonly identity: ValidatorIdentity,
  ) {
    this.lockKey = redisKey('validator', 'leader', config.netuid);
  }

  onApplicationBootstrap(): void {
    if (this.config.chainMode === 'local') {
      this.stopAnnouncing = startAnnouncing(this.nats.nc, {
        keypair: this.identity.hotkey,
        intervalMs: 5000,
        fields: () => ({
          netuid: this.config.netuid,
          role: 'validator',
          host: this.config.http.host,
          port: this.config.http.port,
        }),
      });
    }
    // Contest the lock at once, so that a fresh install has a leader (and the
    // leader gauge a value) before the first round, one interval from now.
    void this.holdLock()
      .then((leader) => {
        this.leader = leader;
        this.leaderGauge.set(leader ? 1 : 0);
      })
      .catch((error: unknown) => this.log.warn({ err: error }, 'could not contest the weight-setting lock yet'));
    const interval = this.config.scoring.weightsIntervalSeconds * 1000;
    if (interval > 0) {
      this.timer = setInterval(() => void this.round(), interval);
      this.timer.unref();
    }
  }

  /** True on the replica that holds the leader lock (as of its last round); it also runs synthetic traffic. */
  get leading(): boolean {
    return this.leader;
  }

  /** One round: hold or take the lock, and if leader, set weights. */
  async round(): Promise<void> {
    try {
      this.leader = await this.holdLock();
      this.leaderGauge.set(this.leader ? 1 : 0);
      if (this.leader) await this.setWeights();
    } catch (error) {
      this.weightsSet.inc({ outcome: 'error' });
      this.log.warn({ err: error }, 'weight-setting round failed');
    }
  }

  private async holdLock(): Promise<boolean> {
    const ttlMs = Math.max(this.config.scoring.weightsIntervalSeconds * 3000, 10_000);
    // Renew if ours, else take it if free: one atomic script.
    const script = `
      local holder = redis.call('GET', KEYS[1])
      if holder == ARGV[1] or not holder then
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
      end
      return 0`;
    return Number(await this.redis.client.eval(script, 1, this.lockKey, this.token, String(ttlMs))) === 1;
  }

  private async setWeights(): Promise<void> {
    const snapshot = this.metagraph.current();
    if (!snapshot) return;
    const miners = snapshot.neurons.filter(
      (n) => n.role !== 'validator' && n.hotkey !== this.identity.hotkey.ss58Address,
    );
    if (miners.length === 0) return;
    const scored = await this.scores.scoresOf(miners);
    const normalised = scoresToWeights(new Map(scored.map((s) => [s.uid, s.score])));
    if (normalised.weights.every((w) => w === 0)) return;
    const conformed = conformToSubnet(
      snapshot,
      this.identity.hotkey.ss58Address,
      normalised.uids,
      normalised.weights,
    );
    if (!conformed.ok) {
      this.weightsSet.inc({ outcome: 'refused' });
      this.log.warn({ reason: conformed.reason }, 'weights not sent: the SDK would refuse them');
      return;
    }
    const { uids, weights } = conformed;
    const request: SetWeightsRequest = {
      v: 1,
      netuid: this.config.netuid,
      hotkey: this.identity.hotkey.ss58Address,
      uids,
      weights,
    };
    const reply = await this.nats.nc.request(Subjects.extrinsics('set_weights'), encodeJson(request), {
      timeout: 60_000,
    });
    const decoded = decodeJson(extrinsicOutcomeSchema, reply.data);
    if (!decoded.ok) throw new Error(`chain-indexer answered an invalid outcome: ${decoded.error}`);
    this.weightsSet.inc({ outcome: decoded.value.outcome });
    if (decoded.value.outcome === 'failed') {
      this.log.warn({ error: decoded.value.error }, 'set_weights failed');
      return;
    }
    if (decoded.value.outcome !== 'deferred') {
      this.lastWeightsTime.set(Date.now() / 1000);
      // Miners left out of this round have no weight now, not their last one.
      this.weightGauge.reset();
      const total = weights.reduce((a, b) => a + b, 0);
      uids.forEach((uid, i) => this.weightGauge.set({ uid: String(uid) }, weights[i] / total));
    }
    this.log.info(
      {
        outcome: decoded.value.outcome,
        miners: uids.length,
        nextEligibleBlock: decoded.value.nextEligibleBlock,
      },
      'weights sent',
    );
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopAnnouncing?.();
    if (this.timer) clearInterval(this.timer);
    if (this.leader) {
      // Hand leadership over at once instead of waiting for the lock to expire.
      await this.redis.client
        .eval(
          `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
          1,
          this.lockKey,
          this.token,
        )
        .catch(() => undefined);
    }
  }
}
