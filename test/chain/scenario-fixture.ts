import { ReadinessRegistry } from '@chattensor/common';
import type { MetagraphSnapshot } from '@chattensor/protocol';
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
}

export const FIXTURE_FILE = 'test/fixtures/subtensor/follower-spec293.json';

/** An in-memory publisher: what the follower would have handed to MetagraphPublisher. */
export class CollectingPublisher {
  readonly published: MetagraphSnapshot[] = [];
  async publish(snapshot: MetagraphSnapshot): Promise<boolean> {
    this.published.push(snapshot);
    return true;
  }
  async latest(netuid: number): Promise<MetagraphSnapshot | undefined> {
    return [...this.published].reverse().find((s) => s.netuid === netuid);
  }
  async forget(netuid: number): Promise<void> {
    this.published.splice(0, this.published.length, ...this.published.filter((s) => s.netuid !== netuid));
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
