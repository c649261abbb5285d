import { Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Msg, Subscription } from 'nats';
import { CORRELATION_HEADER, NatsService, rootLogger, runWithCorrelation } from '@chattensor/common';
import {
  QueueGroups,
  Subjects,
  decodeJson,
  encodeJson,
  serveAxonRequestSchema,
  setWeightsRequestSchema,
  type ExtrinsicOutcome,
} from '@chattensor/protocol';
import { ExtrinsicWriter } from './extrinsic-writer.service';
import { SubtensorMetrics } from './subtensor.metrics';

type Call = 'set_weights' | 'serve_axon';

/**
 * `chain.extrinsics.*` in subtensor mode: validates each request, hands it to
 * the writer and answers the requester with the outcome (in the queue group,
 * so several indexer replicas never send the same extrinsic twice).
 */
@Injectable()
export class ExtrinsicsHandler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = rootLogger().child({ component: 'extrinsics-handler' });
  private readonly subscriptions: Subscription[] = [];
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly nats: NatsService,
    private readonly writer: ExtrinsicWriter,
    private readonly metrics: SubtensorMetrics,
  ) {}

  onApplicationBootstrap(): void {
    for (const call of ['set_weights', 'serve_axon'] as const) {
      this.subscriptions.push(
        this.nats.nc.subscribe(Subjects.extrinsics(call), {
          queue: QueueGroups.chainIndexer,
          callback: (error, message) => {
            if (error) return;
            const work = this.handle(call, message).finally(() => this.inFlight.delete(work));
            this.inFlight.add(work);
          },
        }),
      );
    }
  }

  /** Stops taking requests and lets the ones being sent finish, so no requester is left without an answer. */
  async onModuleDestroy(): Promise<void> {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    await Promise.allSettled([...this.inFlight]);
  }

  private handle(call: Call, message: Msg): Promise<void> {
    return runWithCorrelation(message.headers?.get(CORRELATION_HEADER) || undefined, async () => {
      let outcome: ExtrinsicOutcome;
      try {
        outcome = await this.dispatch(call, message.data);
      } catch (error) {
        outcome = { outcome: 'failed', call, error: (error as Error).message };
      }
      this.log.info(
        { call, outcome: outcome.outcome, block: outcome.block, error: outcome.moduleError ?? outcome.error },
        'extrinsic request answered',
      );
      if (message.reply) message.respond(encodeJson(outcome));
    });
  }

  private async dispatch(call: Call, data: Uint8Array): Promise<ExtrinsicOutcome> {
    switch (call) {
      case 'set_weights': {
        const decoded = decodeJson(setWeightsRequestSchema, data);
        if (!decoded.ok) return this.invalid(call, decoded.error);
        return this.writer.setWeights(decoded.value);
      }
      case 'serve_axon': {
        const decoded = decodeJson(serveAxonRequestSchema, data);
        if (!decoded.ok) return this.invalid(call, decoded.error);
        return this.writer.serveAxon(decoded.value);
      }
    }
  }

  private invalid(call: Call, error: string): ExtrinsicOutcome {
    this.metrics.extrinsics.inc({ call, outcome: 'failed' });
    return { outcome: 'failed', call, error: `invalid request: ${error}` };
  }
}
