import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Subscription } from 'nats';
import { NatsService, RedisService, redisKey, rootLogger, counter } from '@chattensor/common';
import { CRYPTO_ED25519, CRYPTO_SR25519, initCrypto, verifySignature } from '@chattensor/bittensor';
import {
  Subjects,
  announceMessage,
  announcementSchema,
  decodeJson,
  type Announcement,
  type MetagraphSnapshot,
  type Neuron,
} from '@chattensor/protocol';
import { CHAIN_INDEXER_CONFIG } from '../config/config.token';
import type { ChainIndexerConfig } from '../config/chain-indexer.config';
import { MetagraphPublisher } from '../metagraph/metagraph.publisher';

/** Announcements further than this from our clock are refused (replay protection). */
const MAX_CLOCK_SKEW_MS = 60_000;

interface Registration {
  announcement: Announcement;
  uid: number;
  lastSeen: number;
}

/**
 * Standalone mode's chain: miners and validators announce themselves on
 * `registry.announce`, signed by their hotkey; this keeps the resulting
 * metagraph (uids stable across restarts, held in Redis) and publishes a new
 * snapshot whenever the set of live neurons changes.
 */
@Injectable()
export class LocalRegistryService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = rootLogger().child({ component: 'local-registry' });
  private readonly registrations = new Map<string, Registration>();
  private subscription?: Subscription;
  private sweepTimer?: NodeJS.Timeout;
  private revision = 0;
  private lastWeights?: MetagraphSnapshot['lastWeights'];
  private publishing: Promise<void> = Promise.resolve();
  private readonly announcements = counter({
    name: 'chattensor_registry_announcements_total',
    help: 'Standalone-mode announcements received, by outcome',
    labelNames: ['outcome'],
  });

  constructor(
    private readonly nats: NatsService,
    private readonly redis: RedisService,
    private readonly publisher: MetagraphPublisher,
    @Inject(CHAIN_INDEXER_CONFIG) private readonly config: ChainIndexerConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await initCrypto();
    const previous = await this.publisher.latest(this.config.netuid);
    this.revision = previous?.block ?? 0;
    this.lastWeights = previous?.lastWeights;
    this.subscription = this.nats.nc.subscribe(Subjects.registryAnnounce, {
      callback: (error, message) => {
        if (error) return;
        this.handle(message.data);
      },
    });
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(1000, this.config.local.announceTtlMs / 4));
    this.sweepTimer.unref();
    // Publish at once so consumers find a snapshot even before the first announcement.
    this.schedulePublish();
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  /** Records the weights a validator set (standalone mode has no chain to send them to). */
  recordWeights(weights: NonNullable<MetagraphSnapshot['lastWeights']>): number {
    this.lastWeights = weights;
    this.schedulePublish();
    return this.revision + 1;
  }

  currentRevision(): number {
    return this.revision;
  }

  private handle(data: Uint8Array): void {
    const decoded = decodeJson(announcementSchema, data);
    if (!decoded.ok) {
      this.announcements.inc({ outcome: 'invalid' });
      this.log.warn({ error: decoded.error }, 'invalid announcement ignored');
      return;
    }
    const a = decoded.value;
    if (a.netuid !== this.config.netuid) return;
    if (Math.abs(Date.now() - a.timestamp) > MAX_CLOCK_SKEW_MS) {
      this.announcements.inc({ outcome: 'stale' });
      this.log.warn({ hotkey: a.hotkey }, 'stale announcement ignored');
      return;
    }
    if (
      !verifySignature(
        announceMessage(a),
        a.signature,
        a.hotkey,
        a.crypto === 'ed25519' ? CRYPTO_ED25519 : CRYPTO_SR25519,
      )
    ) {
      this.announcements.inc({ outcome: 'bad_signature' });
      this.log.warn({ hotkey: a.hotkey }, 'announcement with a bad signature ignored');
      return;
    }
    const known = this.registrations.get(a.hotkey);
    if (known && known.announcement.timestamp >= a.timestamp) {
      this.announcements.inc({ outcome: 'replayed' });
      return;
    }
    this.announcements.inc({ outcome: 'accepted' });
    const changed =
      !known ||
      known.announcement.host !== a.host ||
      known.announcement.port !== a.port ||
      known.announcement.role !== a.role ||
      known.announcement.model !== a.model;
    if (known) {
      known.announcement = a;
      known.lastSeen = Date.now();
      if (changed) this.schedulePublish();
      return;
    }
    void this.register(a).catch((error: unknown) => this.log.error({ err: error }, 'registration failed'));
  }

  private async register(a: Announcement): Promise<void> {
    const uid = await this.uidFor(a.hotkey);
    this.registrations.set(a.hotkey, { announcement: a, uid, lastSeen: Date.now() });
    this.log.info(
      { uid, hotkey: a.hotkey, role: a.role, endpoint: `${a.host}:${a.port}` },
      'neuron registered',
    );
    this.schedulePublish();
  }

  /** A hotkey keeps its uid for the life of the Redis data, like a registration on chain. */
  private async uidFor(hotkey: string): Promise<number> {
    const key = redisKey('chain-indexer', 'local', 'uids', this.config.netuid);
    const script = `
      local uid = redis.call('HGET', KEYS[1], ARGV[1])
      if uid then return tonumber(uid) end
      uid = redis.call('HLEN', KEYS[1])
      redis.call('HSET', KEYS[1], ARGV[1], uid)
      return uid`;
    return Number(await this.redis.client.eval(script, 1, key, hotkey));
  }

  private sweep(): void {
    const cutoff = Date.now() - this.config.local.announceTtlMs;
    let changed = false;
    for (const [hotkey, registration] of this.registrations) {
      if (registration.lastSeen < cutoff) {
        this.registrations.delete(hotkey);
        this.log.info({ uid: registration.uid, hotkey }, 'neuron expired (no announcement)');
        changed = true;
      }
    }
    if (changed) this.schedulePublish();
  }

  /** Serialises publications so revisions go out in order. */
  private schedulePublish(): void {
    this.publishing = this.publishing
      .then(() => this.publishNow())
      .catch((error: unknown) => this.log.error({ err: error }, 'publishing the local metagraph failed'));
  }

  private async publishNow(): Promise<void> {
    this.revision += 1;
    const neurons: Neuron[] = [...this.registrations.values()]
      .sort((a, b) => a.uid - b.uid)
      .map(({ announcement: a, uid }) => ({
        uid,
        hotkey: a.hotkey,
        stake: a.role === 'validator' ? this.config.local.validatorStake : 0,
        validatorPermit: a.role === 'validator',
        active: true,
        axon: { ip: a.host, port: a.port, protocol: 0, version: 0 },
        model: a.model,
        role: a.role,
      }));
    await this.publisher.publish({
      v: 1,
      netuid: this.config.netuid,
      mode: 'local',
      block: this.revision,
      updatedAt: Date.now(),
      neurons,
      hyperparameters: {},
      lastWeights: this.lastWeights,
    });
  }
}
