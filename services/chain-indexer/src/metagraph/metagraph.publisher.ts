import { Inject, Injectable } from '@nestjs/common';
import type { KV } from 'nats';
import { NatsService, RedisService, redisKey, rootLogger, gauge } from '@chattensor/common';
import {
  Buckets,
  Subjects,
  decodeJson,
  describeGone,
  encodeJson,
  isSubnetGone,
  metagraphEntrySchema,
  metagraphKey,
  metagraphSnapshotSchema,
  subnetEventSchema,
  subnetGoneSchema,
  type MetagraphEntry,
  type MetagraphSnapshot,
  type SubnetEvent,
  type SubnetGone,
} from '@chattensor/protocol';
import { CHAIN_INDEXER_CONFIG } from '../config/config.token';
import type { ChainIndexerConfig } from '../config/chain-indexer.config';

const CAS_ATTEMPTS = 5;

/**
 * Whether `next` may replace `current` in a netuid's KV entry: a newer block
 * always; at the same block only a snapshot over a tombstone (a netuid
 * dissolved and registered again within one block: the tombstone ends the
 * old lineage, the snapshot starts the new one).
 */
export function supersedes(current: MetagraphEntry | undefined, next: MetagraphEntry): boolean {
  if (!current) return true;
  if (next.block > current.block) return true;
  return next.block === current.block && isSubnetGone(current) && !isSubnetGone(next);
}

/**
 * Publishes metagraph snapshots: the JetStream KV bucket `metagraph` (one key
 * per netuid, monotonic by block: compare-and-set on the KV revision, so two
 * writers can never put an older block over a newer one), the
 * `chain.metagraph.<netuid>` event, and a Redis copy that lets a restarted
 * indexer (or a consumer started before NATS) serve at once.
 *
 * A netuid whose subnet is gone (dissolved, taken by another registration,
 * not registered) gets a tombstone (`SubnetGone`) in its KV entry instead of
 * a snapshot, and a `gone` event on `chain.subnet.<netuid>`.
 */
@Injectable()
export class MetagraphPublisher {
  private readonly log = rootLogger().child({ component: 'metagraph-publisher' });
  private readonly latestByNetuid = new Map<number, MetagraphEntry>();
  /** The KV entry this process last wrote per netuid: the next update needs no read first. */
  private readonly written = new Map<number, { entry: MetagraphEntry; revision: number }>();
  private readonly blockGauge = gauge({
    name: 'chattensor_metagraph_block',
    help: 'Block (or local revision) of the latest published metagraph snapshot',
    labelNames: ['netuid'],
  });
  private readonly neuronsGauge = gauge({
    name: 'chattensor_metagraph_neurons',
    help: 'Neurons in the latest published metagraph snapshot, by role',
    labelNames: ['netuid', 'role'],
  });

  constructor(
    private readonly nats: NatsService,
    private readonly redis: RedisService,
    @Inject(CHAIN_INDEXER_CONFIG) private readonly config: ChainIndexerConfig,
  ) {}

  private bucket(): Promise<KV> {
    // History 1: consumers only ever want the newest snapshot.
    return this.nats.kv(Buckets.metagraph, { history: 1 });
  }

  /** The newest snapshot known for a netuid (memory, then KV, then the Redis copy); undefined when gone. */
  async latest(netuid: number): Promise<MetagraphSnapshot | undefined> {
    const entry = await this.entry(netuid);
    return entry && !isSubnetGone(entry) ? entry : undefined;
  }

  /** The newest KV entry known for a netuid: a snapshot or a tombstone. */
  async entry(netuid: number): Promise<MetagraphEntry | undefined> {
    const cached = this.latestByNetuid.get(netuid);
    if (cached) return cached;
    const fromKv = await this.readKv(netuid).catch(() => undefined);
    const fromRedis = await this.readRedis(netuid).catch(() => undefined);
    let newest: MetagraphEntry | undefined;
    for (const candidate of [fromKv?.snapshot, fromRedis]) {
      if (candidate && supersedes(newest, candidate)) newest = candidate;
    }
    if (newest) this.latestByNetuid.set(netuid, newest);
    return newest;
  }

  /**
   * Publishes `snapshot` unless a snapshot of the same or a newer block is
   * already there. Returns whether it was published.
   */
  async publish(snapshot: MetagraphSnapshot): Promise<boolean> {
    const parsed = metagraphSnapshotSchema.parse(snapshot);
    const data = await this.write(parsed);
    if (!data) return false;
    this.nats.nc.publish(Subjects.metagraph(parsed.netuid), data);
    this.copyToRedis(parsed, data);
    this.blockGauge.set({ netuid: String(parsed.netuid) }, parsed.block);
    const roles = { miner: 0, validator: 0 };
    for (const neuron of parsed.neurons) roles[neuron.validatorPermit ? 'validator' : 'miner']++;
    for (const [role, count] of Object.entries(roles))
      this.neuronsGauge.set({ netuid: String(parsed.netuid), role }, count);
    this.log.info(
      { netuid: parsed.netuid, block: parsed.block, neurons: parsed.neurons.length },
      'metagraph published',
    );
    return true;
  }

  /**
   * Marks a netuid's subnet gone: the tombstone replaces the snapshot in the
   * KV entry (and the Redis copy), and a `gone` event goes out on
   * `chain.subnet.<netuid>`. Returns whether it was written (false when the
   * entry already holds a newer block).
   */
  async publishGone(gone: SubnetGone): Promise<boolean> {
    const parsed = subnetGoneSchema.parse(gone);
    const data = await this.write(parsed);
    if (!data) return false;
    this.copyToRedis(parsed, data);
    this.blockGauge.remove({ netuid: String(parsed.netuid) });
    for (const role of ['miner', 'validator'])
      this.neuronsGauge.remove({ netuid: String(parsed.netuid), role });
    this.publishEvent({
      v: 1,
      netuid: parsed.netuid,
      event: 'gone',
      block: parsed.block,
      blockHash: parsed.blockHash,
      chain: parsed.chain,
      gone: parsed,
      at: Date.now(),
    });
    this.log.warn({ netuid: parsed.netuid, block: parsed.block, reason: parsed.gone }, describeGone(parsed));
    return true;
  }

  /** A lifecycle event on `chain.subnet.<netuid>` (no KV change). */
  publishEvent(event: SubnetEvent): void {
    this.nats.nc.publish(Subjects.subnet(event.netuid), encodeJson(subnetEventSchema.parse(event)));
  }

  private async write(entry: MetagraphEntry): Promise<Uint8Array | undefined> {
    const kv = await this.bucket();
    const data = encodeJson(entry);
    const written = await this.writeKv(kv, metagraphKey(entry.netuid), entry, data);
    if (!written) return undefined;
    this.remember(entry);
    return data;
  }

  private copyToRedis(entry: MetagraphEntry, data: Uint8Array): void {
    // The Redis copy is a fallback for restarts: consumers are not kept waiting for it.
    // Commands on one connection run in order, so the copy never goes back to an older block.
    this.redis.client
      .set(redisKey('chain-indexer', 'metagraph', entry.netuid), Buffer.from(data))
      .catch((error: unknown) =>
        this.log.warn(
          { netuid: entry.netuid, block: entry.block, err: (error as Error).message },
          'could not copy the snapshot to Redis',
        ),
      );
  }

  /**
   * Drops what is known for a netuid (memory, the KV entry, the Redis copy),
   * so that snapshots of any block can be published again. For a follower
   * that finds the stored snapshot belongs to another chain (a reset dev
   * chain, another network): its block numbers say nothing about this one.
   */
  async forget(netuid: number): Promise<void> {
    this.latestByNetuid.delete(netuid);
    this.written.delete(netuid);
    const kv = await this.bucket();
    await kv.delete(metagraphKey(netuid));
    await this.redis.client.del(redisKey('chain-indexer', 'metagraph', netuid));
  }

  /**
   * Compare-and-set on the KV revision. Right after this process's own write
   * it updates against the revision it wrote; when that fails (another writer,
   * a restarted bucket) or nothing is known, it reads the entry and decides
   * again. False when the bucket already holds the same or a newer block.
   */
  private async writeKv(kv: KV, key: string, parsed: MetagraphEntry, data: Uint8Array): Promise<boolean> {
    const mine = this.written.get(parsed.netuid);
    if (mine && supersedes(mine.entry, parsed)) {
      try {
        this.written.set(parsed.netuid, {
          entry: parsed,
          revision: await kv.update(key, data, mine.revision),
        });
        return true;
      } catch {
        this.written.delete(parsed.netuid);
      }
    }
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.readKv(parsed.netuid);
      if (current && !supersedes(current.snapshot, parsed)) {
        this.log.debug(
          { netuid: parsed.netuid, block: parsed.block, current: current.snapshot.block },
          'older snapshot not published',
        );
        this.remember(current.snapshot);
        return false;
      }
      try {
        const revision = current ? await kv.update(key, data, current.revision) : await kv.create(key, data);
        this.written.set(parsed.netuid, { entry: parsed, revision });
        return true;
      } catch (error) {
        // Another writer got there first: re-read and decide again.
        if (attempt === CAS_ATTEMPTS - 1) throw error;
      }
    }
    return false;
  }

  get netuid(): number {
    return this.config.netuid;
  }

  private remember(entry: MetagraphEntry): void {
    const known = this.latestByNetuid.get(entry.netuid);
    if (!known || known === entry || supersedes(known, entry)) this.latestByNetuid.set(entry.netuid, entry);
  }

  private async readKv(netuid: number): Promise<{ snapshot: MetagraphEntry; revision: number } | undefined> {
    const kv = await this.bucket();
    const entry = await kv.get(metagraphKey(netuid));
    if (!entry || entry.operation !== 'PUT' || entry.value.length === 0) return undefined;
    const decoded = decodeJson(metagraphEntrySchema, entry.value);
    if (!decoded.ok) {
      this.log.warn({ netuid, error: decoded.error }, 'ignoring an invalid snapshot in the KV bucket');
      return undefined;
    }
    return { snapshot: decoded.value, revision: entry.revision };
  }

  private async readRedis(netuid: number): Promise<MetagraphEntry | undefined> {
    const raw = await this.redis.client.get(redisKey('chain-indexer', 'metagraph', netuid));
    if (!raw) return undefined;
    const decoded = decodeJson(metagraphEntrySchema, new TextEncoder().encode(raw));
    return decoded.ok ? decoded.value : undefined;
  }
}
