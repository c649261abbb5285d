import { Global, Inject, Injectable, Module, type DynamicModule, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { QueuedIterator, KvEntry } from 'nats';
import { NatsService, ReadinessRegistry, rootLogger } from '@chattensor/common';
import { Buckets, metagraphKey } from '../nats/subjects';
import { decodeJson } from '../nats/codec.util';
import { metagraphSnapshotSchema, type MetagraphSnapshot, type Neuron } from './metagraph.schema';

export const METAGRAPH_NETUID = Symbol('METAGRAPH_NETUID');

type Listener = (snapshot: MetagraphSnapshot) => void;

/**
 * A consumer's view of the metagraph: watches the `metagraph` KV key of one
 * netuid (the watch first delivers the current value, then every update) and
 * keeps the newest snapshot by block. Readiness stays false until one arrives.
 */
@Injectable()
export class MetagraphWatcher implements OnModuleInit, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'metagraph-watcher' });
  private snapshot?: MetagraphSnapshot;
  private watch?: QueuedIterator<KvEntry>;
  private readonly listeners = new Set<Listener>();
  private stopped = false;

  constructor(
    private readonly nats: NatsService,
    readiness: ReadinessRegistry,
    @Inject(METAGRAPH_NETUID) readonly netuid: number,
  ) {
    readiness.register('metagraph', () => (this.snapshot ? true : 'no metagraph snapshot yet'));
  }

  /** Starts following the netuid; resolves once the watch is established (not necessarily with data). */
  async onModuleInit(): Promise<void> {
    const kv = await this.nats.kv(Buckets.metagraph, { history: 1 });
    this.watch = await kv.watch({ key: metagraphKey(this.netuid) });
    void (async () => {
      for await (const entry of this.watch!) {
        if (entry.operation !== 'PUT') continue;
        this.accept(entry.value);
      }
      if (!this.stopped) this.log.warn('metagraph watch ended');
    })();
  }

  private accept(data: Uint8Array): void {
    const decoded = decodeJson(metagraphSnapshotSchema, data);
    if (!decoded.ok) {
      this.log.warn({ error: decoded.error }, 'invalid metagraph snapshot ignored');
      return;
    }
    if (this.snapshot && decoded.value.block < this.snapshot.block) return;
    this.snapshot = decoded.value;
    for (const listener of this.listeners) listener(decoded.value);
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
