import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { MetagraphSnapshot } from '@chattensor/protocol';
import { ReadinessRegistry, rootLogger } from '@chattensor/common';
import { MetagraphPublisher } from '../metagraph/metagraph.publisher';
import { SubtensorConnection, type ChainSession } from './chain-connection';
import { MetagraphReader, type BlockRef } from './metagraph.reader';
import { SUBTENSOR_CONFIG, type SubtensorConfig } from './subtensor.config';
import { SubtensorMetrics } from './subtensor.metrics';

export type BlockListener = (block: BlockRef, session: ChainSession) => void | Promise<void>;

/**
 * What decides whether a snapshot changed: everything but the block it was
 * read at and the pool price, which moves every block with emission and would
 * otherwise turn every block into a publication.
 */
export function snapshotFingerprint(snapshot: MetagraphSnapshot): string {
  const {
    block: _block,
    blockHash: _hash,
    updatedAt: _at,
    alphaPrice: _price,
    lastWeights: _weights,
    ...rest
  } = snapshot;
  return JSON.stringify(rest);
}

/** Which finalized blocks to process next: in order, none twice, and bounded after an outage. */
export function nextBlocks(
  lastProcessed: number | undefined,
  head: number,
  catchupMax: number,
): { from: number; skipped: number } {
  if (lastProcessed === undefined) return { from: head, skipped: 0 };
  const from = Math.max(lastProcessed + 1, head - catchupMax + 1);
  return { from, skipped: Math.max(0, from - (lastProcessed + 1)) };
}

/**
 * Follows finalized heads and publishes a snapshot of each configured subnet
 * at every block where it changed. Blocks are processed strictly in order;
 * after a reconnect it resumes at the block after the last one processed
 * (after a restart: after the newest published snapshot), so no finalized
 * block is missed or processed twice.
 */
@Injectable()
export class ChainFollower implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'chain-follower' });
  private readonly reader: MetagraphReader;
  private readonly fingerprints = new Map<number, string>();
  private readonly listeners: BlockListener[] = [];
  private lastProcessed?: number;
  private lastProcessedAt = 0;
  private finalizedHead = 0;
  private headSeenAt = new Map<number, number>();
  /** Hashes of announced finalized heads: the block after the last processed one needs no lookup. */
  private headHashes = new Map<number, string>();
  /** Snapshots restored at start, not yet checked against the chain the indexer is connected to. */
  private restored = new Map<number, { block: number; blockHash?: string }>();
  private unsubscribe?: () => void;
  private draining?: Promise<void>;
  private pendingDrain = false;

  constructor(
    @Inject(SUBTENSOR_CONFIG) private readonly config: SubtensorConfig,
    private readonly connection: SubtensorConnection,
    private readonly publisher: MetagraphPublisher,
    private readonly metrics: SubtensorMetrics,
    readiness: ReadinessRegistry,
  ) {
    this.reader = new MetagraphReader(config.metagraphSource);
    readiness.register('subtensor', () => this.readiness());
  }

  /** Listeners run after each processed finalized block (the writer reveals commits here). */
  onFinalizedBlock(listener: BlockListener): void {
    this.listeners.push(listener);
  }

  get lastProcessedBlock(): number | undefined {
    return this.lastProcessed;
  }

  async onApplicationBootstrap(): Promise<void> {
    for (const netuid of this.config.netuids) {
      // A restarted indexer serves its last snapshot at once and continues after it.
      const previous = await this.publisher.latest(netuid).catch(() => undefined);
      if (previous?.mode === 'subtensor') {
        this.restored.set(netuid, { block: previous.block, blockHash: previous.blockHash });
        this.fingerprints.set(netuid, snapshotFingerprint(previous));
        this.lastProcessed =
          this.lastProcessed === undefined ? previous.block : Math.min(this.lastProcessed, previous.block);
      }
    }
    this.connection.onSession(
      (session) => this.follow(session),
      () => {
        this.unsubscribe?.();
        this.unsubscribe = undefined;
      },
    );
    this.connection.start();
  }

  onApplicationShutdown(): void {
    this.unsubscribe?.();
  }

  readiness(): true | string {
    if (!this.connection.current) return 'not connected to a Subtensor node';
    if (this.lastProcessed === undefined) return 'no finalized block processed yet';
    const age = Date.now() - this.lastProcessedAt;
    if (age > this.config.staleAfterMs) return `no finalized block processed for ${Math.round(age / 1000)} s`;
    const lag = this.finalizedHead - this.lastProcessed;
    if (lag > this.config.maxLagBlocks) return `${lag} finalized blocks behind`;
    return true;
  }

  private async follow(session: ChainSession): Promise<void> {
    await this.checkRestored(session);
    this.unsubscribe = await session.api.rpc.chain.subscribeFinalizedHeads((header) => {
      const number = header.number.toNumber();
      if (!this.headSeenAt.has(number)) this.headSeenAt.set(number, performance.now());
      this.headHashes.set(number, header.hash.toHex());
      this.finalizedHead = Math.max(this.finalizedHead, number);
      this.metrics.finalizedHead.set(this.finalizedHead);
      this.updateLag();
      this.drain(session);
    });
  }

  /**
   * A restored snapshot whose block hash is not the chain's hash at that
   * number was published from another chain (a reset dev chain, another
   * network behind the same NATS): continuing after its block would serve
   * stale neurons and skip this chain's blocks, and the KV bucket would
   * refuse every lower block. The stored snapshots are dropped and following
   * starts over at the finalized head.
   */
  private async checkRestored(session: ChainSession): Promise<void> {
    if (this.restored.size === 0) return;
    let foreign: { netuid: number; block: number; blockHash?: string; onChain: string } | undefined;
    try {
      for (const [netuid, { block, blockHash }] of this.restored) {
        if (!blockHash) continue;
        const onChain = (await session.api.rpc.chain.getBlockHash(block)).toHex();
        if (onChain !== blockHash) {
          foreign = { netuid, block, blockHash, onChain };
          break;
        }
      }
    } catch (error) {
      // Checked again on the next connection; following this one goes on meanwhile.
      this.log.warn(
        { err: (error as Error).message },
        'could not check the stored snapshot against the chain',
      );
      return;
    }
    if (foreign) {
      this.log.warn(
        foreign,
        'the stored snapshot is not on this chain: dropping the stored snapshots and starting at the finalized head',
      );
      for (const netuid of this.restored.keys()) {
        await this.publisher.forget(netuid);
        this.fingerprints.delete(netuid);
      }
      this.lastProcessed = undefined;
    }
    this.restored.clear();
  }

  /** One drain loop at a time; a head arriving meanwhile makes it run once more. */
  private drain(session: ChainSession): void {
    if (this.draining) {
      this.pendingDrain = true;
      return;
    }
    this.draining = (async () => {
      do {
        this.pendingDrain = false;
        await this.processUpTo(session, this.finalizedHead);
      } while (this.pendingDrain && this.connection.current === session);
    })().finally(() => {
      this.draining = undefined;
    });
  }

  private async processUpTo(session: ChainSession, head: number): Promise<void> {
    const { from, skipped } = nextBlocks(this.lastProcessed, head, this.config.catchupMaxBlocks);
    if (skipped > 0) {
      this.metrics.skippedBlocks.inc(skipped);
      this.log.warn(
        { lastProcessed: this.lastProcessed, from, skipped },
        'outage longer than the catch-up window: older blocks not replayed',
      );
    }
    for (let number = from; number <= head; number++) {
      if (this.connection.current !== session) return;
      try {
        const hash =
          this.headHashes.get(number) ?? (await session.api.rpc.chain.getBlockHash(number)).toHex();
        await this.processBlock(session, { number, hash });
      } catch (error) {
        // Left unprocessed: the next head (or the next session) retries from here.
        const ended = this.connection.current !== session;
        this.log[ended ? 'info' : 'error'](
          { block: number, err: (error as Error).message },
          ended ? 'connection ended while processing a finalized block' : 'could not process finalized block',
        );
        return;
      }
    }
  }

  private async processBlock(session: ChainSession, block: BlockRef): Promise<void> {
    const delegateHotkey = this.config.delegateHotkey;
    for (const netuid of this.config.netuids) {
      const readStarted = performance.now();
      const read = await this.reader.read(session.api, block, netuid, delegateHotkey);
      if (!read) {
        if (!this.fingerprints.has(netuid) || this.fingerprints.get(netuid) !== 'absent') {
          this.log.warn({ netuid, block: block.number }, 'subnet does not exist at this block');
          this.fingerprints.set(netuid, 'absent');
        }
        continue;
      }
      const publishStarted = performance.now();
      const fingerprint = snapshotFingerprint(read.snapshot);
      if (this.fingerprints.get(netuid) === fingerprint) continue;
      await this.publisher.publish(read.snapshot);
      const published = performance.now();
      this.fingerprints.set(netuid, fingerprint);
      const stage = this.metrics.snapshotStage;
      stage.observe({ stage: 'chain' }, read.timings.chainMs / 1000);
      stage.observe({ stage: 'decode' }, read.timings.decodeMs / 1000);
      // Fingerprinting counts with publishing: both are the indexer's own work after the snapshot is built.
      stage.observe({ stage: 'publish' }, (published - publishStarted) / 1000);
      const seen = this.headSeenAt.get(block.number);
      if (seen !== undefined) {
        stage.observe({ stage: 'wait' }, Math.max(0, readStarted - seen) / 1000);
        this.metrics.snapshotLatency.observe(
          { netuid: String(netuid), source: read.source },
          (published - seen) / 1000,
        );
      }
    }
    this.lastProcessed = block.number;
    this.lastProcessedAt = Date.now();
    for (const seen of [this.headSeenAt, this.headHashes]) {
      for (const key of seen.keys()) if (key <= block.number) seen.delete(key);
    }
    this.metrics.blockHeight.set(block.number);
    this.updateLag();
    for (const listener of this.listeners) {
      try {
        await listener(block, session);
      } catch (error) {
        // A listener cut short by the end of its connection (shutdown, node restart) is not a fault.
        const ended = this.connection.current !== session;
        this.log[ended ? 'info' : 'error'](
          { block: block.number, err: (error as Error).message },
          ended ? 'connection ended during a finalized-block listener' : 'finalized-block listener failed',
        );
      }
    }
  }

  private updateLag(): void {
    if (this.lastProcessed !== undefined)
      this.metrics.syncLag.set(Math.max(0, this.finalizedHead - this.lastProcessed));
  }
}
