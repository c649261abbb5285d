/**
 * Opt-in: the indexer against a real Subtensor runtime (`SUBTENSOR_WS`, e.g.
 * chopsticks; see docs/chain.md). Creates a subnet, registers a validator and
 * miners, stakes, serves axons, sets weights through the indexer's writer over
 * NATS, runs epochs, and checks the published metagraph against the chain.
 */

import type { INestApplicationContext } from '@nestjs/common';
import { connect, type NatsConnection } from 'nats';
import {
  Subjects,
  decodeJson,
  encodeJson,
  extrinsicOutcomeSchema,
  type ExtrinsicOutcome,
  type MetagraphSnapshot,
} from '@chattensor/protocol';
import { expectEventually } from '../support/expect-eventually';
import { provideInfra, type Infra } from '../support/infra';
import { MetagraphPublisher } from '../../services/chain-indexer/src/metagraph/metagraph.publisher';
import { ChainFollower } from '../../services/chain-indexer/src/subtensor/chain-follower.service';
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
    app = await startIndexer({
      ...env,
      NATS_URL: infra.natsUrl,
      REDIS_URL: infra.redisUrl,
      CHAIN_MODE: 'subtensor',
      NETUID: String(subnet.netuid),
      SUBTENSOR_WS: endpoint,
      HOTKEY_URI: `//Alice//validator-${tag}`,
      SUBTENSOR_FINALITY_TIMEOUT_MS: '20000',
      SUBTENSOR_TX_MORTAL_PERIOD: '64',
    });
    publisher = app.get(MetagraphPublisher);
    nc = await connect({ servers: infra.natsUrl });
  });

  afterAll(async () => {
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
});
