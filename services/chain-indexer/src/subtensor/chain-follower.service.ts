import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  describeGone,
  isSubnetGone,
  type ChainIdentity,
  type MetagraphEntry,
  type MetagraphSnapshot,
  type SubnetGone,
  type SubnetGoneReason,
} from '@chattensor/protocol';
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

/** What the indexer serves for a netuid: a snapshot or a tombstone, and the chain it came from. */
interface Served {
  block: number;
  blockHash?: string;
  genesisHash?: string;
  /** Lineage of a snapshot (`NetworkRegisteredAt`); the ended lineage of a tombstone. */
  registeredAt?: number;
  gone?: SubnetGone;
}

function servedOf(entry: MetagraphEntry): Served {
  return isSubnetGone(entry)
    ? {
        block: entry.block,
        blockHash: entry.blockHash,
        genesisHash: entry.chain?.genesisHash,
        registeredAt: entry.previousRegisteredAt,
        gone: entry,
      }
    : {
        block: entry.block,
        blockHash: entry.blockHash,
        genesisHash: entry.chain?.genesisHash,
        registeredAt: entry.subnetRegisteredAt,
      };
}

/**
 * Follows finalized heads and publishes a snapshot of each configured subnet
 * at every block where it changed. Blocks are processed strictly in order;
 * after a reconnect it resumes at the block after the last one processed
 * (after a restart: after the newest published snapshot), so no finalized
 * block is missed or processed twice.
 *
 * On every connection (and whenever the finalized head goes back) it checks
 * that the node serves the chain it was following: the same genesis hash, and
 * the served blocks still on it under the same hash. When not (a reset dev
 * chain, another network behind the endpoint), it drops everything it served
 * and starts over at the finalized head.
 *
 * A followed subnet that disappears (dissolved), or whose netuid now holds
 * another registration (`NetworkRegisteredAt` changed), is detected at the
 * block it happens: its KV entry becomes a tombstone and a new registration
 * starts a new lineage.
 */
@Injectable()
export class ChainFollower implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'chain-follower' });
  private readonly reader: MetagraphReader;
  private readonly fingerprints = new Map<number, string>();
  private readonly listeners: BlockListener[] = [];
  /** Per netuid: what is served now (published or restored). */
  private readonly served = new Map<number, Served>();
  private lastProcessed?: number;
  private lastProcessedHash?: string;
  private lastProcessedAt = 0;
  private finalizedHead = 0;
  private headSeenAt = new Map<number, number>();
  /** Hashes of announced finalized heads: the block after the last processed one needs no lookup. */
  private headHashes = new Map<number, string>();
  /** The chain of the current connection. */
  private identity?: ChainIdentity;
  /** Set when a finalized head went back: the chain is checked again before going on. */
  private recheck = false;
  private startedOver?: { at: number; reason: string };
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

  /** The chain the current connection reaches. */
  get chain(): ChainIdentity | undefined {
    return this.identity;
  }

  /** The tombstone of a followed netuid whose subnet is gone, else undefined. */
  goneOf(netuid: number): SubnetGone | undefined {
    return this.served.get(netuid)?.gone;
  }

  async onApplicationBootstrap(): Promise<void> {
    for (const netuid of this.config.netuids) {
      // A restarted indexer serves its last snapshot at once and continues after it.
      const previous = await this.publisher.entry(netuid).catch(() => undefined);
      if (previous?.mode === 'subtensor') {
        this.served.set(netuid, servedOf(previous));
        this.fingerprints.set(netuid, isSubnetGone(previous) ? 'absent' : snapshotFingerprint(previous));
        this.lastProcessed =
          this.lastProcessed === undefined ? previous.block : Math.min(this.lastProcessed, previous.block);
        if (this.lastProcessed === previous.block) this.lastProcessedHash = previous.blockHash;
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
    const gone = [...this.served.values()].flatMap((s) => (s.gone ? [describeGone(s.gone)] : []));
    if (gone.length > 0) return `${gone.join('; ')}: nothing to serve for it`;
    if (this.lastProcessed === undefined) {
      return this.startedOver
        ? `started over on the connected chain (${this.startedOver.reason}): no finalized block processed yet`
        : 'no finalized block processed yet';
    }
    const age = Date.now() - this.lastProcessedAt;
    if (age > this.config.staleAfterMs) return `no finalized block processed for ${Math.round(age / 1000)} s`;
    const lag = this.finalizedHead - this.lastProcessed;
    if (lag > this.config.maxLagBlocks) return `${lag} finalized blocks behind`;
    return true;
  }

  private async follow(session: ChainSession): Promise<void> {
    const { api } = session;
    this.identity = {
      genesisHash: api.genesisHash.toHex(),
      specName: api.runtimeVersion.specName.toString(),
      specVersion: api.runtimeVersion.specVersion.toNumber(),
    };
    // The head of this connection, not the highest ever seen: a new chain may be lower.
    this.finalizedHead = 0;
    this.headSeenAt.clear();
    this.headHashes.clear();
    await this.checkChain(session);
    this.unsubscribe = await api.rpc.chain.subscribeFinalizedHeads((header) => {
      const number = header.number.toNumber();
      const hash = header.hash.toHex();
      if (!this.headSeenAt.has(number)) this.headSeenAt.set(number, performance.now());
      this.headHashes.set(number, hash);
      // Finality never goes back on one chain: a lower head, or another hash at the last
      // processed block, means the node now serves another chain (a dev chain reset in place).
      if (
        this.lastProcessed !== undefined &&
        (number < this.lastProcessed || (number === this.lastProcessed && hash !== this.lastProcessedHash))
      ) {
        this.recheck = true;
      }
      this.finalizedHead = number;
      this.metrics.finalizedHead.set(number);
      this.updateLag();
      this.drain(session);
    });
  }

  /**
   * Whether the connected node still has what is served: the genesis hash of
   * every stored snapshot, and each served block (and the last processed one)
   * under the same hash. When not, everything served is dropped and
   * following starts over at the finalized head.
   */
  private async checkChain(session: ChainSession): Promise<void> {
    const genesis = this.identity!.genesisHash;
    let mismatch: Record<string, unknown> | undefined;
    try {
      const checks: { netuid?: number; block: number; blockHash?: string; genesisHash?: string }[] = [
        ...[...this.served].map(([netuid, s]) => ({ netuid, ...s })),
        ...(this.lastProcessed !== undefined
          ? [{ block: this.lastProcessed, blockHash: this.lastProcessedHash }]
          : []),
      ];
      for (const check of checks) {
        if (check.genesisHash && check.genesisHash !== genesis) {
          mismatch = {
            netuid: check.netuid,
            servedGenesis: check.genesisHash,
            genesis,
            reason: `genesis hash ${genesis} instead of ${check.genesisHash}`,
          };
          break;
        }
        if (!check.blockHash) continue;
        const onChain = (await session.api.rpc.chain.getBlockHash(check.block)).toHex();
        if (onChain !== check.blockHash) {
          const absent = /^0x0*$/.test(onChain);
          mismatch = {
            netuid: check.netuid,
            block: check.block,
            servedHash: check.blockHash,
            onChain: absent ? null : onChain,
            reason: absent
              ? `block ${check.block} is not on the chain`
              : `block ${check.block} has another hash on the chain`,
          };
          break;
        }
      }
    } catch (error) {
      // Checked again on the next connection; following this one goes on meanwhile.
      this.log.warn(
        { err: (error as Error).message },
        'could not check the served snapshots against the chain',
      );
      return;
    }
    if (mismatch) await this.startOver(session, mismatch);
  }

  /** Drops everything served (memory, KV, Redis), tells consumers, and resets the progress metrics. */
  private async startOver(session: ChainSession, mismatch: Record<string, unknown>): Promise<void> {
    const reason = String(mismatch.reason);
    this.log.warn(
      { endpoint: session.endpoint, ...mismatch, netuids: [...this.served.keys()] },
      `the node serves another chain than the one followed (${reason}): dropping the served snapshots and starting over at the finalized head`,
    );
    const previous = [...this.served];
    for (const netuid of new Set([...this.served.keys(), ...this.config.netuids])) {
      await this.publisher.forget(netuid);
      this.fingerprints.delete(netuid);
    }
    this.served.clear();
    this.reader.reset();
    // Hashes announced by the old chain must not name the new chain's blocks; the new ones are looked up.
    this.headHashes.clear();
    this.headSeenAt.clear();
    for (const [netuid, s] of previous) {
      this.publisher.publishEvent({
        v: 1,
        netuid,
        event: 'chain_reset',
        chain: this.identity,
        previous: { block: s.block, blockHash: s.blockHash, genesisHash: s.genesisHash },
        reason,
        at: Date.now(),
      });
    }
    this.lastProcessed = undefined;
    this.lastProcessedHash = undefined;
    this.startedOver = { at: Date.now(), reason };
    this.metrics.blockHeight.reset();
    this.metrics.syncLag.reset();
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
        if (this.recheck) {
          this.recheck = false;
          await this.checkChain(session);
        }
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
      if (this.connection.current !== session || this.recheck) return;
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
      const served = this.served.get(netuid);
      if (!read) {
        if (this.fingerprints.get(netuid) !== 'absent') {
          await this.markGone(
            netuid,
            block,
            served?.gone || !served ? 'not_registered' : 'dissolved',
            served,
          );
          this.fingerprints.set(netuid, 'absent');
        }
        continue;
      }
      const snapshot: MetagraphSnapshot = { ...read.snapshot, chain: { ...this.identity!, ...read.runtime } };
      const lineage = snapshot.subnetRegisteredAt;
      if (served && !served.gone && served.registeredAt !== undefined && lineage !== served.registeredAt) {
        // Another subnet under the same netuid: end the old lineage first, never mix the two.
        await this.markGone(netuid, block, 'reregistered', served);
        this.fingerprints.delete(netuid);
      }
      const startsLineage = !this.served.get(netuid) || this.served.get(netuid)!.gone !== undefined;
      const publishStarted = performance.now();
      const fingerprint = snapshotFingerprint(snapshot);
      if (this.fingerprints.get(netuid) === fingerprint) continue;
      await this.publisher.publish(snapshot);
      const published = performance.now();
      this.fingerprints.set(netuid, fingerprint);
      this.served.set(netuid, servedOf(snapshot));
      if (startsLineage) {
        this.publisher.publishEvent({
          v: 1,
          netuid,
          event: 'registered',
          block: block.number,
          blockHash: block.hash,
          chain: snapshot.chain,
          subnetRegisteredAt: lineage,
          at: Date.now(),
        });
      }
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
    this.lastProcessedHash = block.hash;
    this.lastProcessedAt = Date.now();
    this.startedOver = undefined;
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

  private async markGone(
    netuid: number,
    block: BlockRef,
    reason: SubnetGoneReason,
    served: Served | undefined,
  ): Promise<void> {
    const gone: SubnetGone = {
      v: 1,
      netuid,
      mode: 'subtensor',
      gone: reason,
      block: block.number,
      blockHash: block.hash,
      chain: this.identity,
      ...(served && !served.gone && served.registeredAt !== undefined
        ? { previousRegisteredAt: served.registeredAt }
        : {}),
      ...(served && !served.gone ? { lastSnapshotBlock: served.block } : {}),
      updatedAt: Date.now(),
    };
    await this.publisher.publishGone(gone);
    this.served.set(netuid, servedOf(gone));
  }

  private updateLag(): void {
    if (this.lastProcessed !== undefined)
      this.metrics.syncLag.set(Math.max(0, this.finalizedHead - this.lastProcessed));
  }
}
