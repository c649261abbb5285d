/**
 * Opt-in: the indexer against a real Subtensor runtime (`SUBTENSOR_WS`, e.g.
 * chopsticks; see docs/chain.md). Creates a subnet, registers a validator and
 * miners, stakes, serves axons, sets weights through the indexer's writer over
 * NATS, runs epochs, and checks the published metagraph against the chain.
 * Then: a miner's axon signed by the miner through the indexer, an unfollowed
 * netuid over gRPC, the subnet dissolved, and the node restarted as a fresh
 * chain (`SUBTENSOR_WS_FRESH`: a second node started fresh from the same
 * spec, put behind the indexer's address; without it the same node is reset
 * in place with chopsticks' `dev_setHead`).
 */

import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { INestApplicationContext } from '@nestjs/common';
import { connect, type NatsConnection } from 'nats';
import { initCrypto, Keypair, signServeAxonRequest } from '@chattensor/bittensor';
import { ReadinessRegistry } from '@chattensor/common';
import {
  Subjects,
  decodeJson,
  encodeJson,
  extrinsicOutcomeSchema,
  indexerV1,
  isSubnetGone,
  signingRequestSchema,
  subnetEventSchema,
  type ExtrinsicOutcome,
  type MetagraphSnapshot,
  type SubnetEvent,
} from '@chattensor/protocol';
import { expectEventually } from '../support/expect-eventually';
import { provideInfra, type Infra } from '../support/infra';
import { MetagraphPublisher } from '../../services/chain-indexer/src/metagraph/metagraph.publisher';
import { ChainFollower } from '../../services/chain-indexer/src/subtensor/chain-follower.service';
import { IndexerGrpcServer } from '../../services/chain-indexer/src/query/indexer-grpc.server';
import { SubtensorMetrics } from '../../services/chain-indexer/src/subtensor/subtensor.metrics';
import {
  connectHarness,
  createSubnet,
  newBlocks,
  runEpochs,
  send,
  sudo,
  type Harness,
  type SubnetSetup,
} from '../../bench/chain/dev-chain';
import { startIndexer } from './indexer-app';
import { RecordingProxy } from './rpc-recording';

const endpoint = process.env.SUBTENSOR_WS;
const describeLive = endpoint ? describe : describe.skip;
if (!endpoint)
  console.warn('subtensor live suite skipped: set SUBTENSOR_WS to a Subtensor node (see docs/chain.md)');

jest.setTimeout(600_000);

describeLive('chain-indexer against a real Subtensor runtime', () => {
  let h: Harness;
  let subnet: SubnetSetup;
  let app: INestApplicationContext;
  let nc: NatsConnection;
  let publisher: MetagraphPublisher;
  let infra: Infra;
  let proxy: RecordingProxy;
  let grpc: InstanceType<typeof indexerV1.IndexerServiceClient>;
  const events: SubnetEvent[] = [];
  const tag = `live-${Date.now()}`;
  const RATE_LIMIT = 30;

  async function request(call: 'set_weights' | 'serve_axon', body: object): Promise<ExtrinsicOutcome> {
    const reply = await nc.request(Subjects.extrinsics(call), encodeJson(body), { timeout: 120_000 });
    const decoded = decodeJson(extrinsicOutcomeSchema, reply.data);
    if (!decoded.ok) throw new Error(decoded.error);
    return decoded.value;
  }

  async function published(): Promise<MetagraphSnapshot> {
    const snapshot = await publisher.latest(subnet.netuid);
    if (!snapshot) throw new Error('nothing published yet');
    return snapshot;
  }

  beforeAll(async () => {
    h = await connectHarness(endpoint!);
    subnet = await createSubnet(h, { miners: 3, tempo: 10, weightsRateLimit: RATE_LIMIT, tag });
    for (const [i, miner] of subnet.miners.entries()) {
      await send(
        h.api,
        h.api.tx.subtensorModule.serveAxon(subnet.netuid, 1, 0x0a000001n + BigInt(i), 8091 + i, 4, 4, 0, 0),
        miner,
      );
    }
    // NATS and Redis of its own: on a shared NATS any other chain-indexer in the
    // `chain-indexer` queue group (a local-mode one in another test, say) may answer
    // this suite's extrinsic requests, and snapshots of an earlier chain sit in the KV bucket.
    const { NATS_URL: _nats, REDIS_URL: _redis, ...env } = process.env;
    delete process.env.NATS_URL;
    delete process.env.REDIS_URL;
    infra = await provideInfra();
    // The indexer reaches the node through a forwarding proxy: the restart test cuts it and points it elsewhere.
    proxy = new RecordingProxy(endpoint!, { record: false });
    const indexerEndpoint = await proxy.start();
    await initCrypto();
    app = await startIndexer({
      ...env,
      NATS_URL: infra.natsUrl,
      REDIS_URL: infra.redisUrl,
      CHAIN_MODE: 'subtensor',
      NETUID: String(subnet.netuid),
      SUBTENSOR_WS: indexerEndpoint,
      SUBTENSOR_RECONNECT_MIN_MS: '200',
      SUBTENSOR_RECONNECT_MAX_MS: '2000',
      INDEXER_GRPC_HOST: '127.0.0.1',
      INDEXER_GRPC_PORT: '0',
      HOTKEY_URI: `//Alice//validator-${tag}`,
      SUBTENSOR_FINALITY_TIMEOUT_MS: '20000',
      SUBTENSOR_TX_MORTAL_PERIOD: '64',
    });
    publisher = app.get(MetagraphPublisher);
    nc = await connect({ servers: infra.natsUrl });
    const lifecycle = nc.subscribe(Subjects.subnet(subnet.netuid));
    void (async () => {
      for await (const message of lifecycle) {
        const decoded = decodeJson(subnetEventSchema, message.data);
        if (decoded.ok) events.push(decoded.value);
      }
    })();
    grpc = new indexerV1.IndexerServiceClient(
      `127.0.0.1:${app.get(IndexerGrpcServer).port}`,
      credentials.createInsecure(),
    );
  });

  const getMetagraph = (request: indexerV1.GetMetagraphRequest) =>
    new Promise<indexerV1.GetMetagraphResponse>((resolve, reject) =>
      grpc.getMetagraph(request, new Metadata(), (error: ServiceError | null, response) =>
        error ? reject(error) : resolve(response),
      ),
    );

  afterAll(async () => {
    grpc?.close();
    await proxy?.stop();
    await nc?.drain();
    await app?.close();
    await h?.close();
    await infra?.stop();
  });

  it('publishes the new subnet with its validator, miners, stake and hyperparameters', async () => {
    await newBlocks(h.api, 1);
    const snapshot = await expectEventually(async () => {
      const s = await published();
      expect(s.neurons).toHaveLength(4);
      return s;
    }, 30_000);
    expect(snapshot.mode).toBe('subtensor');
    expect(snapshot.neurons[0].hotkey).toBe(subnet.validator.address);
    expect(snapshot.neurons[0].alphaStake).toBeGreaterThan(0);
    expect(snapshot.neurons.slice(1).map((n) => n.hotkey)).toEqual(subnet.miners.map((m) => m.address));
    expect(snapshot.neurons[1].axon).toMatchObject({ ip: '10.0.0.1', port: 8091, ipType: 4, protocol: 4 });
    expect(snapshot.hyperparameters).toMatchObject({
      tempo: 10,
      weightsRateLimit: RATE_LIMIT,
      commitRevealEnabled: false,
    });
  });

  it('serves the indexer hotkey axon once, skips an identical record and refuses loopback', async () => {
    const body = {
      v: 1,
      netuid: subnet.netuid,
      hotkey: subnet.validator.address,
      ip: '2001:db8::7',
      port: 9000,
      protocol: 4,
      version: 1,
    };
    const served = await request('serve_axon', body);
    expect(['finalized', 'in_block']).toContain(served.outcome);
    expect(await request('serve_axon', body)).toMatchObject({ outcome: 'skipped' });
    expect(await request('serve_axon', { ...body, ip: '127.0.0.1' })).toMatchObject({ outcome: 'failed' });
    const axon = await h.api.query.subtensorModule.axons(subnet.netuid, subnet.validator.address);
    expect(axon.toJSON()).toMatchObject({ ipType: 6, port: 9000 });
  });

  it('sets weights after the validator earns a permit, and defers a too-early second call', async () => {
    await runEpochs(h, subnet.netuid, 1);
    await expectEventually(
      async () => expect((await published()).neurons[0].validatorPermit).toBe(true),
      30_000,
    );
    const body = {
      v: 1,
      netuid: subnet.netuid,
      hotkey: subnet.validator.address,
      uids: [1, 2, 3],
      weights: [0.5, 0.3, 0.2],
      waitFor: 'in_block',
    };
    const first = await request('set_weights', body);
    // A dev chain may finalize the block before the in-block status is seen.
    expect(first.call).toBe('set_weights');
    expect(['in_block', 'finalized']).toContain(first.outcome);
    const weights = (await h.api.query.subtensorModule.weights(subnet.netuid, 0)).toJSON();
    expect(weights).toEqual([
      [1, 65535],
      [2, 39321],
      [3, 26214],
    ]);
    const second = await request('set_weights', body);
    expect(second.outcome).toBe('deferred');
    expect(second.nextEligibleBlock).toBe(first.block! + RATE_LIMIT);
  });

  it('publishes incentive and dividends equal to what the chain holds after epochs', async () => {
    await runEpochs(h, subnet.netuid, 2);
    const snapshot = await expectEventually(async () => {
      const s = await published();
      expect(s.neurons[1].incentive).toBeGreaterThan(0);
      return s;
    }, 30_000);
    const at = await h.api.at(snapshot.blockHash!);
    const q = at.query.subtensorModule;
    const u16 = (v: { toJSON(): unknown }) => (v.toJSON() as number[]).map((x) => x / 65535);
    expect(snapshot.neurons.map((n) => n.incentive)).toEqual(u16(await q.incentive(subnet.netuid)));
    expect(snapshot.neurons.map((n) => n.dividends)).toEqual(u16(await q.dividends(subnet.netuid)));
    expect(snapshot.neurons.map((n) => n.consensus)).toEqual(u16(await q.consensus(subnet.netuid)));
    expect(snapshot.neurons.map((n) => n.validatorTrust)).toEqual(u16(await q.validatorTrust(subnet.netuid)));
    expect(snapshot.neurons.map((n) => n.lastUpdate)).toEqual((await q.lastUpdate(subnet.netuid)).toJSON());
    expect(snapshot.neurons[0].dividends).toBeGreaterThan(0);
    const lite = (await at.call.neuronInfoRuntimeApi.getNeuronsLite(subnet.netuid)).toJSON() as {
      hotkey: string;
      coldkey: string;
      emission: number;
      validatorPermit: boolean;
    }[];
    expect(snapshot.neurons.map((n) => [n.hotkey, n.coldkey, n.validatorPermit])).toEqual(
      lite.map((n) => [n.hotkey, n.coldkey, n.validatorPermit]),
    );
    expect(snapshot.neurons.map((n) => Math.round(n.emission! * 1e9))).toEqual(lite.map((n) => n.emission));
    const follower = app.get(ChainFollower);
    await expectEventually(() => expect(follower.readiness()).toBe(true), 60_000, 200);
  });

  it('commits and later reveals weights when the subnet turns commit-reveal on', async () => {
    await sudo(h, h.api.tx.adminUtils.sudoSetCommitRevealWeightsEnabled(subnet.netuid, true));
    await runEpochs(h, subnet.netuid, 3);
    const body = {
      v: 1,
      netuid: subnet.netuid,
      hotkey: subnet.validator.address,
      uids: [1, 2],
      weights: [1, 1],
      waitFor: 'in_block',
    };
    const committed = await request('set_weights', body);
    expect(committed.call).toBe('commit_weights');
    expect(['in_block', 'finalized']).toContain(committed.outcome);
    expect(committed.reveal!.firstBlock).toBeGreaterThan(committed.block!);
    const commits = await h.api.query.subtensorModule.weightCommits(subnet.netuid, subnet.validator.address);
    expect(commits.toJSON()).toHaveLength(1);
    await newBlocks(h.api, committed.reveal!.firstBlock - committed.block! + 1);
    await expectEventually(
      async () => {
        await newBlocks(h.api, 1);
        const weights = (await h.api.query.subtensorModule.weights(subnet.netuid, 0)).toJSON();
        expect(weights).toEqual([
          [1, 65535],
          [2, 65535],
        ]);
      },
      60_000,
      1000,
    );
  });
  it("registers a miner's axon signed by the miner's own hotkey, through the indexer", async () => {
    const miner = Keypair.fromUri(`//Bob//miner-${tag}-0`);
    expect(miner.ss58Address).toBe(subnet.miners[0].address);
    const axon = { netuid: subnet.netuid, version: 0, ip: '198.51.100.9', port: 8095, protocol: 4 };
    const body = {
      v: 1,
      netuid: subnet.netuid,
      hotkey: miner.ss58Address,
      ip: axon.ip,
      port: axon.port,
      protocol: 4,
      version: 0,
    };
    // Nobody answers for the miner's hotkey yet: the indexer says so, and sends nothing.
    const unsigned = await request('serve_axon', body);
    expect(unsigned).toMatchObject({ outcome: 'failed', error: expect.stringContaining('nobody signs for') });
    // The miner's side: the function its OwnerSigningResponder answers with.
    let signed = 0;
    const responder = nc.subscribe(Subjects.signer(miner.ss58Address), {
      callback: (_error, message) => {
        const decoded = decodeJson(signingRequestSchema, message.data);
        if (!decoded.ok) return;
        try {
          message.respond(encodeJson({ signature: signServeAxonRequest(miner, decoded.value, axon) }));
          signed++;
        } catch (error) {
          message.respond(encodeJson({ error: (error as Error).message }));
        }
      },
    });
    try {
      const served = await request('serve_axon', body);
      expect(served.call).toBe('serve_axon');
      expect(['finalized', 'in_block']).toContain(served.outcome);
      expect(signed).toBe(1);
      const onChain = (await h.api.query.subtensorModule.axons(subnet.netuid, miner.ss58Address)).toJSON();
      expect(onChain).toMatchObject({ ipType: 4, port: 8095, protocol: 4 });
      expect(await request('serve_axon', body)).toMatchObject({ outcome: 'skipped' });
      // A call the miner did not ask for is refused by the miner.
      expect(await request('serve_axon', { ...body, port: 9999 })).toMatchObject({
        outcome: 'failed',
        error: expect.stringContaining('refused to sign'),
      });
      await newBlocks(h.api, 1);
      await expectEventually(async () => {
        const neuron = (await published()).neurons.find((n) => n.hotkey === miner.ss58Address);
        expect(neuron?.axon).toMatchObject({ ip: '198.51.100.9', port: 8095 });
      }, 30_000);
    } finally {
      responder.unsubscribe();
    }
  });

  it('publishes weights, bonds, chain identity and lineage equal to the chain', async () => {
    const snapshot = await published();
    const at = await h.api.at(snapshot.blockHash!);
    const q = at.query.subtensorModule;
    for (const item of ['weights', 'bonds'] as const) {
      const rows: { uid: number; entries: [number, number][] }[] = [];
      for (let uid = 0; uid < snapshot.neurons.length; uid++) {
        const row = (await q[item](subnet.netuid, uid)).toJSON() as [number, number][];
        if (row.length > 0) rows.push({ uid, entries: row });
      }
      expect(snapshot[item]).toEqual(rows);
    }
    expect(snapshot.weights!.length).toBeGreaterThan(0);
    expect(snapshot.chain).toEqual({
      genesisHash: h.api.genesisHash.toHex(),
      specName: 'node-subtensor',
      specVersion: h.api.runtimeVersion.specVersion.toNumber(),
    });
    expect(snapshot.subnetRegisteredAt).toBe((await q.networkRegisteredAt(subnet.netuid)).toJSON());
    expect(snapshot.hyperparameters).toMatchObject({
      tempo: 10,
      kappa: expect.any(Number),
      maxUids: expect.any(Number),
    });
  });

  it('answers NOT_FOUND for a netuid it does not follow, and OK for its own', async () => {
    expect((await getMetagraph({})).snapshot!.netuid).toBe(subnet.netuid);
    await expect(getMetagraph({ netuid: subnet.netuid + 100 })).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: expect.stringContaining('is not followed'),
    });
  });

  it('marks the subnet gone at the block it is dissolved: tombstone, event, NOT_FOUND, readiness', async () => {
    const dissolved = await sudo(
      h,
      h.api.tx.subtensorModule.dissolveNetwork(subnet.owner.address, subnet.netuid),
    );
    expect(dissolved.some((e) => e.event.method === 'NetworkRemoved')).toBe(true);
    const block = (await h.api.rpc.chain.getHeader()).number.toNumber();
    await newBlocks(h.api, 1);
    const gone = await expectEventually(async () => {
      const entry = await publisher.entry(subnet.netuid);
      expect(entry && isSubnetGone(entry)).toBe(true);
      return entry as Extract<typeof entry, { gone: string }>;
    }, 30_000);
    expect(gone).toMatchObject({ gone: 'dissolved', block });
    await expectEventually(() => expect(events.map((e) => e.event)).toContain('gone'), 10_000);
    await expect(getMetagraph({})).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: expect.stringContaining(`netuid ${subnet.netuid} was dissolved at block ${block}`),
    });
    const report = await app.get(ReadinessRegistry).report();
    expect(report.checks.subtensor).toEqual({
      ok: false,
      detail: `netuid ${subnet.netuid} was dissolved at block ${block}: nothing to serve for it`,
    });
  });

  it('starts over when the node comes back as a fresh chain, with honest metrics and a reason', async () => {
    const follower = app.get(ChainFollower);
    const metrics = app.get(SubtensorMetrics);
    const before = follower.lastProcessedBlock!;
    const fresh = process.env.SUBTENSOR_WS_FRESH;
    if (fresh) {
      // The node restarted as a fresh chain: the connection drops and comes back to it.
      proxy.retarget(fresh);
      proxy.dropClients();
    } else {
      // The same node reset in place, without dropping the connection: the chain goes back to
      // block 1 and grows again under other hashes; the finalized head going back is the sign.
      await h.api.rpc('dev_setHead', 1);
      await newBlocks(h.api, 2);
    }
    await expectEventually(() => expect(events.map((e) => e.event)).toContain('chain_reset'), 60_000, 200);
    const reset = events.find((e) => e.event === 'chain_reset')!;
    expect(reset.reason).toMatch(/block \d+ (is not on the chain|has another hash on the chain)/);
    // Nothing of the old chain is served; the netuid has no subnet on the new chain.
    await expectEventually(
      async () => {
        const entry = await publisher.entry(subnet.netuid);
        expect(entry && isSubnetGone(entry) && entry.gone).toBe('not_registered');
        expect(entry!.block).toBeLessThan(before);
      },
      60_000,
      200,
    );
    const head = (await metrics.finalizedHead.get()).values[0].value;
    expect(head).toBeLessThan(before);
    expect((await metrics.blockHeight.get()).values[0].value).toBeLessThanOrEqual(head);
    const report = await app.get(ReadinessRegistry).report();
    expect(report.checks.subtensor.detail).toContain(`netuid ${subnet.netuid} has no subnet at block`);
    await expect(getMetagraph({})).rejects.toMatchObject({ code: status.NOT_FOUND });
  });
});
