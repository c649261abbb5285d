import { Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Msg, Subscription } from 'nats';
import { NatsService, rootLogger, counter } from '@chattensor/common';
import {
  QueueGroups,
  Subjects,
  decodeJson,
  encodeJson,
  setWeightsRequestSchema,
  type ExtrinsicOutcome,
} from '@chattensor/protocol';
import { LocalRegistryService } from '../registry/local-registry.service';

/**
 * Standalone mode's `chain.extrinsics.set_weights`: there is no chain, so the
 * weights are normalised and recorded in the metagraph snapshot (the status
 * page shows them) and the requester is told `recorded`.
 */
@Injectable()
export class LocalWeightsHandler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = rootLogger().child({ component: 'local-weights' });
  private subscription?: Subscription;
  private readonly extrinsics = counter({
    name: 'chattensor_chain_extrinsics_total',
    help: 'Extrinsic requests handled, by call and outcome',
    labelNames: ['call', 'outcome'],
  });

  constructor(
    private readonly nats: NatsService,
    private readonly registry: LocalRegistryService,
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.nats.nc.subscribe(Subjects.extrinsics('set_weights'), {
      queue: QueueGroups.chainIndexer,
      callback: (error, message) => {
        if (!error) this.handle(message);
      },
    });
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }

  private handle(message: Msg): void {
    const decoded = decodeJson(setWeightsRequestSchema, message.data);
    let outcome: ExtrinsicOutcome;
    if (!decoded.ok) {
      outcome = { outcome: 'failed', error: decoded.error };
    } else if (decoded.value.uids.length !== decoded.value.weights.length) {
      outcome = { outcome: 'failed', error: 'uids and weights differ in length' };
    } else {
      const { uids, weights } = decoded.value;
      const total = weights.reduce((sum, w) => sum + w, 0);
      const normalised = total > 0 ? weights.map((w) => w / total) : weights.map(() => 0);
      const block = this.registry.recordWeights({
        block: this.registry.currentRevision() + 1,
        at: Date.now(),
        uids,
        weights: normalised,
      });
      outcome = { outcome: 'recorded', block };
      this.log.info({ hotkey: decoded.value.hotkey, uids: uids.length }, 'weights recorded');
    }
    this.extrinsics.inc({ call: 'set_weights', outcome: outcome.outcome });
    if (message.reply) message.respond(encodeJson(outcome));
  }
}
