import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { connect, type NatsConnection, type Subscription } from 'nats';
import {
  NatsModule,
  NatsService,
  OpsModule,
  ReadinessRegistry,
  RedisModule,
  RedisService,
} from '@chattensor/common';
import {
  MetagraphModule,
  MetagraphWatcher,
  Subjects,
  decodeJson,
  indexerV1,
  subnetEventSchema,
  type MetagraphSnapshot,
  type SubnetEvent,
  type SubnetGone,
} from '@chattensor/protocol';
import { expectEventually } from '../../../../test/support/expect-eventually';
import { loadChainIndexerConfig } from '../config/chain-indexer.config';
import { CHAIN_INDEXER_CONFIG } from '../config/config.token';
import { MetagraphPublisher } from '../metagraph/metagraph.publisher';
import { PublisherModule } from '../metagraph/publisher.module';
import { IndexerGrpcServer } from './indexer-grpc.server';
import { QueryModule } from './query.module';

/**
 * The query API's contract, over a real gRPC connection, answered by the real
 * publisher on real NATS (KV bucket) and Redis: OK with the snapshot; NOT_FOUND
 * for a netuid not followed and for a subnet gone (tombstone), with the
 * reason; UNAVAILABLE only for a followed netuid without a snapshot yet.
 */
describe('IndexerService contract (gRPC over the real publisher, NATS and Redis)', () => {
  const base = 20_000 + Math.floor(Math.random() * 30_000);
  const [live, dissolved, pending, unfollowed] = [base, base + 1, base + 2, base + 3];
  const genesisHash = `0x${'45'.repeat(32)}`;
  const chain = { genesisHash, specName: 'node-subtensor', specVersion: 293 };
  const snapshot = (netuid: number, block: number, registeredAt: number): MetagraphSnapshot => ({
    v: 1,
    netuid,
    mode: 'subtensor',
    block,
    blockHash: `0x${block.toString(16).padStart(64, '0')}`,
    updatedAt: 1_700_000_000_000,
    neurons: [
      {
        uid: 0,
        hotkey: '5Validator',
        coldkey: '5Cold',
        stake: 500,
        alphaStake: 500,
        validatorPermit: true,
        active: true,
        axon: null,
        dividends: 1,
        lastUpdate: 100,
      },
      {
        uid: 1,
        hotkey: '5Miner',
        stake: 0,
        validatorPermit: false,
        active: true,
        axon: { ip: '10.0.0.1', port: 8091, ipType: 4, protocol: 4, version: 1 },
        incentive: 1,
      },
    ],
    hyperparameters: {
      tempo: 10,
      weightsRateLimit: 30,
      commitRevealEnabled: false,
      kappa: 32767,
      minBurn: 0.0005,
      yumaVersion: 2,
      subnetIsActive: true,
      // A u64 above 2^53, as spec 293 reports it: carried as the nearest double.
      adjustmentAlpha: 17893341751498265000,
      // u64::MAX (spec 293's max_difficulty) as a double is 2^64: the answer still fits a uint64.
      maxDifficulty: 18446744073709552000,
    },
    delegate: {
      hotkey: '5Validator',
      take: 0.18,
      totalStake: 500,
      nominators: [{ coldkey: '5Cold', stake: 500 }],
      registrations: [netuid],
      validatorPermits: [netuid],
    },
    chain,
    subnetRegisteredAt: registeredAt,
    weights: [{ uid: 0, entries: [[1, 65535]] }],
    bonds: [{ uid: 0, entries: [[1, 1234]] }],
  });
  const tombstone = (netuid: number, block: number): SubnetGone => ({
    v: 1,
    netuid,
    mode: 'subtensor',
    gone: 'dissolved',
    block,
    blockHash: `0x${block.toString(16).padStart(64, '0')}`,
    chain,
    previousRegisteredAt: 5,
    lastSnapshotBlock: block - 1,
    updatedAt: 1_700_000_000_000,
  });

  let module: TestingModule;
  let watcherModule: TestingModule;
  let client: InstanceType<typeof indexerV1.IndexerServiceClient>;
  let publisher: MetagraphPublisher;
  let nc: NatsConnection;
  let events: Subscription;
  const received: SubnetEvent[] = [];

  beforeAll(async () => {
    const config = loadChainIndexerConfig({
      NATS_URL: process.env.NATS_URL,
      REDIS_URL: process.env.REDIS_URL,
      CHAIN_MODE: 'subtensor',
      SUBTENSOR_WS: 'ws://127.0.0.1:1',
      NETUID: String(live),
      SUBTENSOR_NETUIDS: `${dissolved},${pending}`,
      INDEXER_GRPC_HOST: '127.0.0.1',
      INDEXER_GRPC_PORT: '0',
    });
    @Module({
      imports: [
        OpsModule,
        NatsModule.forRoot({ servers: config.natsServers, name: 'indexer-contract' }),
        RedisModule.forRoot({ url: config.redisUrl, name: 'indexer-contract' }),
        PublisherModule.forRoot(config),
        QueryModule.forRoot(config.query),
      ],
    })
    class ContractModule {}
    module = await Test.createTestingModule({ imports: [ContractModule] }).compile();
    await module.init();
    publisher = module.get(MetagraphPublisher);
    nc = await connect({ servers: process.env.NATS_URL });
    events = nc.subscribe(Subjects.subnet(dissolved));
    void (async () => {
      for await (const message of events) {
        const decoded = decodeJson(subnetEventSchema, message.data);
        if (decoded.ok) received.push(decoded.value);
      }
    })();
    await nc.flush();
    client = new indexerV1.IndexerServiceClient(
      `127.0.0.1:${module.get(IndexerGrpcServer).port}`,
      credentials.createInsecure(),
    );
    @Module({
      imports: [
        OpsModule,
        NatsModule.forRoot({ servers: config.natsServers, name: 'indexer-contract-consumer' }),
        MetagraphModule.forRoot(dissolved),
      ],
    })
    class ConsumerModule {}
    watcherModule = await Test.createTestingModule({ imports: [ConsumerModule] }).compile();
    await watcherModule.init();
  });

  afterAll(async () => {
    client?.close();
    events?.unsubscribe();
    await nc?.drain();
    await watcherModule?.close();
    await module?.close();
  });

  const call = <Req, Res>(
    method: (req: Req, md: Metadata, cb: (e: ServiceError | null, r: Res) => void) => unknown,
    request: Req,
  ) =>
    new Promise<Res>((resolve, reject) =>
      method.call(client, request, new Metadata(), (error, response) =>
        error ? reject(error) : resolve(response),
      ),
    );
  const metagraph = (request: indexerV1.GetMetagraphRequest) =>
    call<indexerV1.GetMetagraphRequest, indexerV1.GetMetagraphResponse>(client.getMetagraph, request);

  it('answers OK with the snapshot, its chain identity, lineage, weights, bonds and hyperparameters', async () => {
    expect(await publisher.publish(snapshot(live, 120, 5))).toBe(true);
    const answer = await metagraph({});
    expect(answer.snapshot).toEqual({
      netuid: live,
      mode: 'subtensor',
      block: 120n,
      blockHash: snapshot(live, 120, 5).blockHash,
      updatedAtMs: 1_700_000_000_000n,
      genesisHash,
      specName: 'node-subtensor',
      specVersion: 293,
      subnetRegisteredAt: 5n,
    });
    expect(answer.neurons.map((n) => n.hotkey)).toEqual(['5Validator', '5Miner']);
    expect(answer.neurons[1].axon).toEqual({
      ip: '10.0.0.1',
      port: 8091,
      ipType: 4,
      protocol: 4,
      version: 1,
    });
    expect(answer.weights).toEqual([{ uid: 0, targets: [1], values: [65535] }]);
    expect(answer.bonds).toEqual([{ uid: 0, targets: [1], values: [1234] }]);
    expect(answer.hyperparameters!.maxDifficulty).toBe((1n << 64n) - 1n);
    expect(answer.hyperparameters).toMatchObject({
      tempo: 10,
      weightsRateLimit: 30n,
      kappa: 32767,
      minBurn: 0.0005,
      yumaVersion: 2,
      subnetIsActive: true,
    });
    const neuron = await call<indexerV1.GetNeuronRequest, indexerV1.GetNeuronResponse>(client.getNeuron, {
      hotkey: '5Miner',
    });
    expect(neuron.neuron!.uid).toBe(1);
    const delegate = await call<indexerV1.GetDelegateRequest, indexerV1.GetDelegateResponse>(
      client.getDelegate,
      {},
    );
    expect(delegate.delegate).toMatchObject({ take: 0.18, nominators: [{ coldkey: '5Cold', stake: 500 }] });
  });

  it('answers NOT_FOUND for a netuid it does not follow, on every method', async () => {
    for (const method of [client.getMetagraph, client.getHyperparameters, client.getDelegate]) {
      await expect(call(method, { netuid: unfollowed })).rejects.toMatchObject({
        code: status.NOT_FOUND,
        details: expect.stringContaining(`netuid ${unfollowed} is not followed`),
      });
    }
    await expect(call(client.getNeuron, { netuid: unfollowed, uid: 0 })).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
  });

  it('answers UNAVAILABLE only for a followed netuid without a snapshot yet', async () => {
    await expect(metagraph({ netuid: pending })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      details: expect.stringContaining('no metagraph'),
    });
  });

  it('answers NOT_FOUND for an unknown neuron and INVALID_ARGUMENT for a neuron named by neither uid nor hotkey', async () => {
    await expect(call(client.getNeuron, { uid: 7 })).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: expect.stringContaining('uid 7'),
    });
    await expect(call(client.getNeuron, {})).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('marks a dissolved subnet gone: tombstone in KV, event on NATS, NOT_FOUND with the reason, consumers drop it', async () => {
    await publisher.publish(snapshot(dissolved, 200, 5));
    const watcher = watcherModule.get(MetagraphWatcher);
    await expectEventually(() => expect(watcher.current()?.block).toBe(200));
    expect(await publisher.publishGone(tombstone(dissolved, 210))).toBe(true);
    // An older snapshot arriving late does not bring the subnet back.
    expect(await publisher.publish(snapshot(dissolved, 205, 5))).toBe(false);
    for (const method of [client.getMetagraph, client.getHyperparameters, client.getDelegate]) {
      await expect(call(method, { netuid: dissolved })).rejects.toMatchObject({
        code: status.NOT_FOUND,
        details: expect.stringContaining(`netuid ${dissolved} was dissolved at block 210`),
      });
    }
    await expectEventually(() => expect(received.map((e) => [e.event, e.block])).toEqual([['gone', 210]]));
    expect(received[0].gone).toMatchObject({
      gone: 'dissolved',
      previousRegisteredAt: 5,
      lastSnapshotBlock: 209,
      chain,
    });
    await expectEventually(() => expect(watcher.gone()?.block).toBe(210));
    expect(watcher.current()).toBeUndefined();
    const readiness = await watcherModule.get(ReadinessRegistry).report();
    expect(readiness.checks.metagraph).toEqual({
      ok: false,
      detail: `netuid ${dissolved} was dissolved at block 210: not serving it`,
    });
    // A restarted indexer (a fresh publisher reading KV) still knows the subnet is gone.
    const restarted = new MetagraphPublisher(
      module.get(NatsService),
      module.get(RedisService),
      module.get(CHAIN_INDEXER_CONFIG),
    );
    expect(await restarted.entry(dissolved)).toMatchObject({ gone: 'dissolved', block: 210 });
    expect(await restarted.latest(dissolved)).toBeUndefined();
  });

  it('serves the netuid again once another subnet registers it, as a new lineage', async () => {
    expect(await publisher.publish(snapshot(dissolved, 230, 228))).toBe(true);
    const answer = await metagraph({ netuid: dissolved });
    expect(answer.snapshot).toMatchObject({ block: 230n, subnetRegisteredAt: 228n });
    const watcher = watcherModule.get(MetagraphWatcher);
    await expectEventually(() => expect(watcher.current()?.subnetRegisteredAt).toBe(228));
    expect(watcher.gone()).toBeUndefined();
  });
  it('withdraws everything after a chain reset, then serves the new chain from a lower block', async () => {
    const watcher = watcherModule.get(MetagraphWatcher);
    await publisher.forget(dissolved);
    await expectEventually(() => expect(watcher.current()).toBeUndefined());
    const readiness = await watcherModule.get(ReadinessRegistry).report();
    expect(readiness.checks.metagraph).toEqual({
      ok: false,
      detail: expect.stringContaining('withdrew the metagraph'),
    });
    await expect(metagraph({ netuid: dissolved })).rejects.toMatchObject({ code: status.UNAVAILABLE });
    // The new chain is at block 3: lower than anything served before, accepted all the same.
    expect(await publisher.publish(snapshot(dissolved, 3, 1))).toBe(true);
    await expectEventually(() => expect(watcher.current()?.block).toBe(3));
    expect((await metagraph({ netuid: dissolved })).snapshot!.block).toBe(3n);
  });
});
