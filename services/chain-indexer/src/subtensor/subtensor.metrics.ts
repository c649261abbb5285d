import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Metric } from 'prom-client';
import { LATENCY_BUCKETS, metricsRegistry } from '@chattensor/common';

/** Reuses a metric another feature of the process already registered under the same name. */
function shared<T extends Metric>(name: string, create: () => T): T {
  return (metricsRegistry.getSingleMetric(name) as T | undefined) ?? create();
}

/** Every metric of the subtensor mode, registered once per process. */
@Injectable()
export class SubtensorMetrics {
  readonly blockHeight = shared(
    'chattensor_chain_block_height',
    () =>
      new Gauge({
        name: 'chattensor_chain_block_height',
        help: 'Last finalized block the indexer has processed',
        registers: [metricsRegistry],
      }),
  );
  readonly finalizedHead = shared(
    'chattensor_chain_finalized_head',
    () =>
      new Gauge({
        name: 'chattensor_chain_finalized_head',
        help: 'Finalized head reported by the Subtensor node',
        registers: [metricsRegistry],
      }),
  );
  readonly syncLag = shared(
    'chattensor_chain_sync_lag_blocks',
    () =>
      new Gauge({
        name: 'chattensor_chain_sync_lag_blocks',
        help: 'Finalized blocks the indexer has not processed yet',
        registers: [metricsRegistry],
      }),
  );
  readonly connected = shared(
    'chattensor_chain_connected',
    () =>
      new Gauge({
        name: 'chattensor_chain_connected',
        help: '1 while connected to a Subtensor node, by endpoint',
        labelNames: ['endpoint'],
        registers: [metricsRegistry],
      }),
  );
  readonly reconnects = shared(
    'chattensor_chain_reconnects_total',
    () =>
      new Counter({
        name: 'chattensor_chain_reconnects_total',
        help: 'Connection attempts after a failure or a lost connection',
        registers: [metricsRegistry],
      }),
  );
  readonly skippedBlocks = shared(
    'chattensor_chain_skipped_blocks_total',
    () =>
      new Counter({
        name: 'chattensor_chain_skipped_blocks_total',
        help: 'Finalized blocks not replayed after an outage longer than SUBTENSOR_CATCHUP_MAX_BLOCKS',
        registers: [metricsRegistry],
      }),
  );
  readonly snapshotLatency = shared(
    'chattensor_chain_snapshot_latency_seconds',
    () =>
      new Histogram({
        name: 'chattensor_chain_snapshot_latency_seconds',
        help: 'From the finalized head notification to the snapshot being published',
        labelNames: ['netuid', 'source'],
        buckets: LATENCY_BUCKETS,
        registers: [metricsRegistry],
      }),
  );
  readonly snapshotStage = shared(
    'chattensor_chain_snapshot_stage_seconds',
    () =>
      new Histogram({
        name: 'chattensor_chain_snapshot_stage_seconds',
        help: 'Parts of the snapshot latency: wait (head notification to reads sent), chain (node answering), decode, publish',
        labelNames: ['stage'],
        buckets: LATENCY_BUCKETS,
        registers: [metricsRegistry],
      }),
  );
  readonly extrinsics = shared(
    'chattensor_chain_extrinsics_total',
    () =>
      new Counter({
        name: 'chattensor_chain_extrinsics_total',
        help: 'Extrinsic requests handled, by call and outcome',
        labelNames: ['call', 'outcome'],
        registers: [metricsRegistry],
      }),
  );
}
