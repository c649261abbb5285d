import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiPromise, WsProvider } from '@polkadot/api';
import type { MetagraphSnapshot } from '@chattensor/protocol';
import { expectEventually } from '../../../../test/support/expect-eventually';
import { ReplayServer } from '../../../../test/chain/rpc-recording';
import {
  buildFollower,
  CollectingPublisher,
  FIXTURE_FILE,
  followerConfig,
  type ScenarioFacts,
} from '../../../../test/chain/scenario-fixture';

const root = join(__dirname, '../../../..');
const fixture = join(root, FIXTURE_FILE);
const present = existsSync(fixture);
if (!present)
  console.warn(`replay tests skipped: ${FIXTURE_FILE} is missing (record it with npm run chain:record)`);

type Facts = ScenarioFacts & { snapshots: { block: number; blockHash: string }[] };

(present ? describe : describe.skip)(
  'ChainFollower over responses recorded from the Subtensor spec 293 runtime',
  () => {
    const facts = present
      ? (JSON.parse(readFileSync(fixture.replace(/\.json$/, '.facts.json'), 'utf8')) as Facts)
      : undefined!;
    const lastBlock = present ? facts.lastProcessedBlock : 0;
    let replay: ReplayServer;
    let url: string;
    let publisher: CollectingPublisher;
    let built: ReturnType<typeof buildFollower>;

    beforeAll(async () => {
      replay = ReplayServer.fromFile(fixture, 20);
      url = await replay.start();
      publisher = new CollectingPublisher();
      built = buildFollower(followerConfig(url, facts.netuid, facts.validator), publisher);
      await built.follower.onApplicationBootstrap();
      await expectEventually(() => expect(built.follower.lastProcessedBlock).toBe(lastBlock), 30_000, 50);
    }, 60_000);

    afterAll(async () => {
      await built?.connection.onApplicationShutdown();
      await replay?.stop();
    });

    it('publishes the snapshots the live run published, in block order and once each', () => {
      expect(publisher.published.map((s) => s.block)).toEqual(facts.snapshots.map((s) => s.block));
      expect(replay.unknown).toEqual([]);
    });

    it('decodes the subnet the scenario created: validator, miners, axons, permit and hyperparameters', () => {
      const snapshot = publisher.published.at(-1)!;
      expect(snapshot).toMatchObject({
        v: 1,
        netuid: facts.netuid,
        mode: 'subtensor',
        block: facts.snapshots.at(-1)!.block,
      });
      expect(snapshot.neurons.map((n) => n.hotkey)).toEqual([facts.validator, ...facts.miners]);
      expect(snapshot.neurons.slice(1).map((n) => ({ ip: n.axon?.ip, port: n.axon?.port }))).toEqual(
        facts.minerAxons,
      );
      expect(snapshot.neurons[0].validatorPermit).toBe(true);
      expect(snapshot.neurons[0].alphaStake).toBeGreaterThan(0);
      expect(snapshot.hyperparameters).toMatchObject({
        tempo: facts.tempo,
        weightsRateLimit: facts.weightsRateLimit,
      });
      // Weights 1 : 0.6 : 0.4 with one validator: miner incentive follows them.
      const incentive = snapshot.neurons.slice(1).map((n) => n.incentive!);
      expect(incentive[0]).toBeGreaterThan(incentive[1]);
      expect(incentive[1]).toBeGreaterThan(incentive[2]);
      expect(snapshot.neurons[0].dividends).toBeGreaterThan(0);
    });

    it('agrees with the chain storage and NeuronInfoRuntimeApi at the snapshot block', async () => {
      const snapshot = publisher.published.at(-1)!;
      const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
      try {
        const at = await api.at(snapshot.blockHash!);
        const q = at.query.subtensorModule;
        const u16 = async (item: string) =>
          ((await q[item](facts.netuid)).toJSON() as number[]).map((x) => x / 65535);
        expect(snapshot.neurons.map((n) => n.incentive)).toEqual(await u16('incentive'));
        expect(snapshot.neurons.map((n) => n.dividends)).toEqual(await u16('dividends'));
        expect(snapshot.neurons.map((n) => n.consensus)).toEqual(await u16('consensus'));
        expect(snapshot.neurons.map((n) => n.validatorTrust)).toEqual(await u16('validatorTrust'));
        expect(snapshot.neurons.map((n) => n.lastUpdate)).toEqual(
          (await q.lastUpdate(facts.netuid)).toJSON(),
        );
        expect(snapshot.neurons.map((n) => n.validatorPermit)).toEqual(
          (await q.validatorPermit(facts.netuid)).toJSON(),
        );
        const lite = (await at.call.neuronInfoRuntimeApi.getNeuronsLite(facts.netuid)).toJSON() as {
          hotkey: string;
          coldkey: string;
          emission: number;
        }[];
        expect(snapshot.neurons.map((n) => [n.hotkey, n.coldkey, Math.round(n.emission! * 1e9)])).toEqual(
          lite.map((n) => [n.hotkey, n.coldkey, n.emission]),
        );
      } finally {
        await api.disconnect();
      }
    });

    it('is ready while it keeps up with the finalized head', () => {
      expect(built.follower.readiness()).toBe(true);
    });

    it('reconnects after the node drops it and neither repeats nor skips a block', async () => {
      const before = publisher.published.length;
      const session = built.connection.current;
      replay.dropClients();
      await expectEventually(
        () => {
          expect(built.connection.current).toBeDefined();
          expect(built.connection.current).not.toBe(session);
        },
        20_000,
        50,
      );
      // The replayed node announces the same (old) heads again: nothing new to process.
      await new Promise((r) => setTimeout(r, 300));
      expect(built.follower.lastProcessedBlock).toBe(lastBlock);
      expect(publisher.published).toHaveLength(before);
    });
  },
);

(present ? describe : describe.skip)('ChainFollower restarted with a snapshot from another chain', () => {
  it('drops the stored snapshot and follows this chain from its finalized head', async () => {
    const facts = JSON.parse(readFileSync(fixture.replace(/\.json$/, '.facts.json'), 'utf8')) as Facts;
    const replay = ReplayServer.fromFile(fixture, 20);
    const url = await replay.start();
    const publisher = new CollectingPublisher();
    // What a reset dev chain leaves in the KV bucket: a block this chain has under another hash.
    const foreign: MetagraphSnapshot = {
      v: 1,
      netuid: facts.netuid,
      mode: 'subtensor',
      block: 0,
      blockHash: `0x${'11'.repeat(32)}`,
      updatedAt: 0,
      neurons: [],
      hyperparameters: {},
    };
    publisher.published.push(foreign);
    const built = buildFollower(followerConfig(url, facts.netuid, facts.validator), publisher);
    try {
      await built.follower.onApplicationBootstrap();
      await expectEventually(
        () => expect(built.follower.lastProcessedBlock).toBe(facts.lastProcessedBlock),
        30_000,
        50,
      );
      expect(publisher.published).not.toContain(foreign);
      expect(publisher.published.map((s) => s.block)).toEqual(facts.snapshots.map((s) => s.block));
      expect(replay.unknown).toEqual([]);
    } finally {
      await built.connection.onApplicationShutdown();
      await replay.stop();
    }
  });
});
