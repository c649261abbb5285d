import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { connect, type NatsConnection } from 'nats';
import { Keypair, initCrypto } from '@chattensor/bittensor';
import {
  Buckets,
  Subjects,
  decodeJson,
  encodeJson,
  extrinsicOutcomeSchema,
  metagraphKey,
  metagraphSnapshotSchema,
  signedAnnouncement,
  type MetagraphSnapshot,
} from '@chattensor/protocol';
import { ChainIndexerModule } from '../app.module';
import { loadChainIndexerConfig } from '../config/chain-indexer.config';
import { MetagraphPublisher } from '../metagraph/metagraph.publisher';
import { expectEventually } from '../../../../test/support/expect-eventually';

describe('the standalone chain-indexer', () => {
  const netuid = 2000 + Math.floor(Math.random() * 10_000);
  let app: INestApplicationContext;
  let nc: NatsConnection;
  const config = loadChainIndexerConfig({
    NATS_URL: process.env.NATS_URL,
    REDIS_URL: process.env.REDIS_URL,
    NETUID: String(netuid),
  INDEXER_GRPC_PORT: '0',
  });

  const start = async () => {
    app = await NestFactory.createApplicationContext(ChainIndexerModule.forRoot(config), {
      logger: false,
      abortOnError: false,
    });
    await app.init();
  };

  const snapshot = async (): Promise<MetagraphSnapshot | undefined> => {
    const kv = await nc.jetstream().views.kv(Buckets.metagraph);
    const entry = await kv.get(metagraphKey(netuid));
    if (!entry || entry.value.length === 0) return undefined;
    const decoded = decodeJson(metagraphSnapshotSchema, entry.value);
    return decoded.ok ? decoded.value : undefined;
  };

  beforeAll(async () => {
    await initCrypto();
    nc = await connect({ servers: process.env.NATS_URL });
    await start();
  });

  afterAll(async () => {
    await app?.close();
    await nc?.drain();
  });

  it('registers a miner from its signed announcement and publishes the metagraph', async () => {
    const miner = Keypair.fromUri('//registry/miner/1');
    const events: MetagraphSnapshot[] = [];
    const sub = nc.subscribe(Subjects.metagraph(netuid), {
      callback: (_e, m) => {
        const d = decodeJson(metagraphSnapshotSchema, m.data);
        if (d.ok) events.push(d.value);
      },
    });
    nc.publish(
      Subjects.registryAnnounce,
      encodeJson(
        signedAnnouncement(miner, { netuid, role: 'miner', host: '10.0.0.5', port: 50051, model: 'm' }),
      ),
    );
    await expectEventually(async () => {
      const neuron = (await snapshot())?.neurons.find((n) => n.hotkey === miner.ss58Address);
      expect(neuron).toMatchObject({
        uid: 0,
        axon: { ip: '10.0.0.5', port: 50051 },
        validatorPermit: false,
        model: 'm',
      });
    });
    await expectEventually(() =>
      expect(events.some((e) => e.neurons.some((n) => n.hotkey === miner.ss58Address))).toBe(true),
    );
    sub.unsubscribe();
  });

  it('ignores an announcement whose signature is not the hotkey owner', async () => {
    const owner = Keypair.fromUri('//registry/victim');
    const forged = {
      ...signedAnnouncement(Keypair.fromUri('//registry/attacker'), {
        netuid,
        role: 'miner',
        host: '6.6.6.6',
        port: 1,
      }),
      hotkey: owner.ss58Address,
    };
    nc.publish(Subjects.registryAnnounce, encodeJson(forged));
    // A valid announcement afterwards proves the forged one was processed (and ignored) first.
    const later = Keypair.fromUri('//registry/miner/2');
    nc.publish(
      Subjects.registryAnnounce,
      encodeJson(signedAnnouncement(later, { netuid, role: 'miner', host: '10.0.0.6', port: 2 })),
    );
    await expectEventually(async () =>
      expect((await snapshot())?.neurons.some((n) => n.hotkey === later.ss58Address)).toBe(true),
    );
    expect((await snapshot())?.neurons.some((n) => n.hotkey === owner.ss58Address)).toBe(false);
  });

  it('ignores a stale announcement', async () => {
    const miner = Keypair.fromUri('//registry/stale');
    nc.publish(
      Subjects.registryAnnounce,
      encodeJson(
        signedAnnouncement(
          miner,
          { netuid, role: 'miner', host: '10.0.0.7', port: 3 },
          Date.now() - 10 * 60_000,
        ),
      ),
    );
    const marker = Keypair.fromUri('//registry/marker');
    nc.publish(
      Subjects.registryAnnounce,
      encodeJson(signedAnnouncement(marker, { netuid, role: 'miner', host: '10.0.0.8', port: 4 })),
    );
    await expectEventually(async () =>
      expect((await snapshot())?.neurons.some((n) => n.hotkey === marker.ss58Address)).toBe(true),
    );
    expect((await snapshot())?.neurons.some((n) => n.hotkey === miner.ss58Address)).toBe(false);
  });

  it('never lets an older block overwrite a newer snapshot', async () => {
    const publisher = app.get(MetagraphPublisher);
    const current = (await snapshot())!;
    const older = { ...current, block: current.block - 1, neurons: [] };
    expect(await publisher.publish(older)).toBe(false);
    expect((await snapshot())!.block).toBe(current.block);
    expect((await snapshot())!.neurons.length).toBe(current.neurons.length);
  });

  it('records weights sent on chain.extrinsics.set_weights in the next snapshot', async () => {
    const reply = await nc.request(
      Subjects.extrinsics('set_weights'),
      encodeJson({
        v: 1,
        netuid,
        hotkey: Keypair.fromUri('//registry/validator').ss58Address,
        uids: [0, 1],
        weights: [3, 1],
      }),
      { timeout: 5000 },
    );
    const outcome = decodeJson(extrinsicOutcomeSchema, reply.data);
    expect(outcome.ok && outcome.value.outcome).toBe('recorded');
    await expectEventually(async () =>
      expect((await snapshot())?.lastWeights).toMatchObject({ uids: [0, 1], weights: [0.75, 0.25] }),
    );
  });

  it('answers an invalid set_weights request with a failure, not silence', async () => {
    const reply = await nc.request(
      Subjects.extrinsics('set_weights'),
      encodeJson({ v: 1, netuid, uids: 'x' }),
      { timeout: 5000 },
    );
    const outcome = decodeJson(extrinsicOutcomeSchema, reply.data);
    expect(outcome.ok && outcome.value.outcome).toBe('failed');
  });

  it('keeps uids and continues the revision after a restart', async () => {
    const before = (await snapshot())!;
    await app.close();
    await start();
    const miner = Keypair.fromUri('//registry/miner/1');
    nc.publish(
      Subjects.registryAnnounce,
      encodeJson(
        signedAnnouncement(miner, { netuid, role: 'miner', host: '10.0.0.5', port: 50051, model: 'm' }),
      ),
    );
    await expectEventually(async () => {
      const after = (await snapshot())!;
      expect(after.block).toBeGreaterThan(before.block);
      expect(after.neurons.find((n) => n.hotkey === miner.ss58Address)?.uid).toBe(0);
    });
  });
});
