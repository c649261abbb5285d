import { ReadinessRegistry } from '@chattensor/common';
import {
  isSubnetGone,
  metagraphSnapshotSchema,
  subnetGoneSchema,
  type MetagraphEntry,
  type MetagraphSnapshot,
  type SubnetEvent,
  type SubnetGone,
} from '@chattensor/protocol';
import type { MetagraphPublisher } from '../../services/chain-indexer/src/metagraph/metagraph.publisher';
import { SubtensorConnection } from '../../services/chain-indexer/src/subtensor/chain-connection';
import { ChainFollower } from '../../services/chain-indexer/src/subtensor/chain-follower.service';
import type { SubtensorConfig } from '../../services/chain-indexer/src/subtensor/subtensor.config';
import { SubtensorMetrics } from '../../services/chain-indexer/src/subtensor/subtensor.metrics';

/** What the recorded scenario set up: the inputs a replay test checks the snapshot against. */
export interface ScenarioFacts {
  netuid: number;
  validator: string;
  miners: string[];
  minerAxons: { ip: string; port: number }[];
  tempo: number;
  weightsRateLimit: number;
  /** The weights the validator set (uids 1..n), as u16 on chain. */
  weights: [number, number][];
  /** The last finalized block the recorded follower processed; the replay ends there. */
  lastProcessedBlock: number;
  /** Block whose extrinsics dissolved the subnet (sudo dissolve_network). */
  dissolvedAt?: number;
  /** Block at which register_network gave the netuid to a new subnet, after the dissolution. */
  reregisteredAt?: number;
  /** Block in which the subnet was dissolved and its netuid registered again by another subnet. */
  reregisteredSameBlock?: number;
  /** The snapshot the recorder read chain storage at, for the replay to compare with. */
  checkedBlock?: number;
  /** The reset recording: the block the chain was set back to, its last head, and what was published on it. */
  reset?: { resetTo: number; head: number; snapshots: { block: number; blockHash: string }[] };
}

export const FIXTURE_FILE = 'test/fixtures/subtensor/follower-spec293.json';
/** The same chain after a reset in place (dev_setHead): the served block is no longer on it. */
export const FIXTURE_RESET_FILE = 'test/fixtures/subtensor/follower-spec293-reset.json';

/** An in-memory publisher: what the follower would have handed to MetagraphPublisher. */
export class CollectingPublisher {
  readonly published: MetagraphSnapshot[] = [];
  readonly gone: SubnetGone[] = [];
  readonly events: SubnetEvent[] = [];
  /** Every entry in the order written: snapshots and tombstones. */
  readonly entries: MetagraphEntry[] = [];
  /** Validated as MetagraphPublisher validates it, so the replay catches what the bucket would refuse. */
  async publish(snapshot: MetagraphSnapshot): Promise<boolean> {
    metagraphSnapshotSchema.parse(snapshot);
    this.published.push(snapshot);
    this.entries.push(snapshot);
    return true;
  }
  /** As MetagraphPublisher: the tombstone, and the `gone` event with it. */
  async publishGone(gone: SubnetGone): Promise<boolean> {
    subnetGoneSchema.parse(gone);
    this.gone.push(gone);
    this.entries.push(gone);
    this.publishEvent({
      v: 1,
      netuid: gone.netuid,
      event: 'gone',
      block: gone.block,
      blockHash: gone.blockHash,
      chain: gone.chain,
      gone,
      at: Date.now(),
    });
    return true;
  }
  publishEvent(event: SubnetEvent): void {
    this.events.push(event);
  }
  async entry(netuid: number): Promise<MetagraphEntry | undefined> {
    return [...this.entries].reverse().find((s) => s.netuid === netuid);
  }
  async latest(netuid: number): Promise<MetagraphSnapshot | undefined> {
    const entry = await this.entry(netuid);
    return entry && !isSubnetGone(entry) ? entry : undefined;
  }
  async forget(netuid: number): Promise<void> {
    for (const list of [this.published, this.gone, this.entries] as MetagraphEntry[][]) {
      list.splice(0, list.length, ...list.filter((s) => s.netuid !== netuid));
    }
  }
}

export function followerConfig(endpoint: string, netuid: number, delegateHotkey?: string): SubtensorConfig {
  return {
    endpoints: [endpoint],
    netuids: [netuid],
    delegateHotkey,
    staleAfterMs: 600_000,
    maxLagBlocks: 1000,
    catchupMaxBlocks: 200,
    reconnect: { minMs: 20, maxMs: 200 },
    rpcTimeoutMs: 120_000,
    finalityTimeoutMs: 60_000,
    txMortalPeriod: 0,
    metagraphSource: 'auto',
  };
}

export function buildFollower(config: SubtensorConfig, publisher: CollectingPublisher) {
  const metrics = new SubtensorMetrics();
  const readiness = new ReadinessRegistry();
  const connection = new SubtensorConnection(config, metrics);
  const follower = new ChainFollower(
    config,
    connection,
    publisher as unknown as MetagraphPublisher,
    metrics,
    readiness,
  );
  return { follower, connection, metrics, readiness };
}
