import {
  Global,
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { QueuedIterator, KvEntry } from 'nats';
import { NatsService, ReadinessRegistry, rootLogger } from '@chattensor/common';
import { Buckets, metagraphKey } from '../nats/subjects';
import { decodeJson } from '../nats/codec.util';
import {
  describeGone,
  isSubnetGone,
  metagraphEntrySchema,
  type MetagraphSnapshot,
  type Neuron,
  type SubnetGone,
} from './metagraph.schema';

export const METAGRAPH_NETUID = Symbol('METAGRAPH_NETUID');

type Listener = (snapshot: MetagraphSnapshot) => void;
type GoneListener = (gone: SubnetGone | undefined) => void;

/** Whether `next` belongs to another chain or another registration of the netuid than `current`. */
function otherLineage(current: MetagraphSnapshot, next: MetagraphSnapshot): boolean {
  return (
    (current.chain?.genesisHash !== undefined &&
      next.chain?.genesisHash !== undefined &&
      current.chain.genesisHash !== next.chain.genesisHash) ||
    (current.subnetRegisteredAt !== undefined &&
      next.subnetRegisteredAt !== undefined &&
      current.subnetRegisteredAt !== next.subnetRegisteredAt)
  );
}

/**
 * A consumer's view of the metagraph: watches the `metagraph` KV key of one
 * netuid (the watch first delivers the current value, then every update) and
 * keeps the newest snapshot by block. Readiness stays false until one arrives.
 *
 * When the chain-indexer marks the subnet gone (a tombstone in the entry:
 * dissolved, or its netuid registered again) or withdraws the entry (it
 * started over on another chain), the snapshot is dropped: `current()` is
 * undefined, so nothing is scored or weighted for the subnet, readiness says
 * why, and `onGone` listeners hear of it. A snapshot of a new lineage (another
 * chain, another registration) replaces the old one whatever its block.
 */
@Injectable()
export class MetagraphWatcher implements OnModuleInit, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'metagraph-watcher' });
  private snapshot?: MetagraphSnapshot;
  private goneEntry?: SubnetGone;
  private withdrawn = false;
  private watch?: QueuedIterator<KvEntry>;
  private readonly listeners = new Set<Listener>();
  private readonly goneListeners = new Set<GoneListener>();
  private stopped = false;

  constructor(
    private readonly nats: NatsService,
    readiness: ReadinessRegistry,
    @Inject(METAGRAPH_NETUID) readonly netuid: number,
  ) {
    readiness.register('metagraph', () => {
      if (this.snapshot) return true;
      if (this.goneEntry) return `${describeGone(this.goneEntry)}: not serving it`;
      if (this.withdrawn)
        return 'the chain-indexer withdrew the metagraph (it started over on another chain): waiting for a new snapshot';
      return 'no metagraph snapshot yet';
    });
  }

  /** Starts following the netuid; resolves once the watch is established (not necessarily with data). */
  async onModuleInit(): Promise<void> {
    const kv = await this.nats.kv(Buckets.metagraph, { history: 1 });
    this.watch = await kv.watch({ key: metagraphKey(this.netuid) });
    void (async () => {
      for await (const entry of this.watch!) {
        if (entry.operation === 'PUT') this.accept(entry.value);
        else this.drop(undefined);
      }
      if (!this.stopped) this.log.warn('metagraph watch ended');
    })();
  }

  private accept(data: Uint8Array): void {
    const decoded = decodeJson(metagraphEntrySchema, data);
    if (!decoded.ok) {
      this.log.warn({ error: decoded.error }, 'invalid metagraph snapshot ignored');
      return;
    }
    const entry = decoded.value;
    if (isSubnetGone(entry)) return this.drop(entry);
    if (this.snapshot && entry.block < this.snapshot.block && !otherLineage(this.snapshot, entry)) return;
    this.snapshot = entry;
    this.goneEntry = undefined;
    this.withdrawn = false;
    for (const listener of this.listeners) listener(entry);
  }

  /** The subnet is gone (a tombstone) or the entry was withdrawn (deleted): nothing to serve. */
  private drop(gone: SubnetGone | undefined): void {
    if (!this.snapshot && !gone && !this.goneEntry) {
      this.withdrawn = true;
      return;
    }
    this.snapshot = undefined;
    this.goneEntry = gone;
    this.withdrawn = !gone;
    this.log.warn(
      gone ? { netuid: gone.netuid, block: gone.block, reason: gone.gone } : { netuid: this.netuid },
      gone ? describeGone(gone) : 'the chain-indexer withdrew the metagraph snapshot',
    );
    for (const listener of this.goneListeners) listener(gone);
  }

  /** The tombstone of the watched netuid when its subnet is gone, else undefined. */
  gone(): SubnetGone | undefined {
    return this.goneEntry;
  }

  /** Called when the snapshot is dropped: with the tombstone, or undefined when the entry was withdrawn. */
  onGone(listener: GoneListener): () => void {
    this.goneListeners.add(listener);
    return () => this.goneListeners.delete(listener);
  }

  current(): MetagraphSnapshot | undefined {
    return this.snapshot;
  }

  neuronByHotkey(hotkey: string): Neuron | undefined {
    return this.snapshot?.neurons.find((n) => n.hotkey === hotkey);
  }

  onUpdate(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    this.watch?.stop();
  }
}

/** Provides a started MetagraphWatcher for one netuid to the whole application. */
@Global()
@Module({})
export class MetagraphModule {
  static forRoot(netuid: number): DynamicModule {
    return {
      module: MetagraphModule,
      providers: [{ provide: METAGRAPH_NETUID, useValue: netuid }, MetagraphWatcher],
      exports: [MetagraphWatcher],
    };
  }
}
