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
  FIXTURE_RESET_FILE,
  followerConfig,
  type ScenarioFacts,
} from '../../../../test/chain/scenario-fixture';

const root = join(__dirname, '../../../..');
const fixture = join(root, FIXTURE_FILE);
const present = existsSync(fixture);
if (!present)
  console.warn(`replay tests skipped: ${FIXTURE_FILE} is missing (record it with npm run chain:record)`);

type Facts = ScenarioFacts & {
  snapshots: { block: number; blockHash: string }[];
  gone: { block: number; gone: string }[];
};

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

    const checked = () => publisher.published.find((s) => s.block === facts.checkedBlock)!;

    it('decodes the subnet the scenario created: validator, miners, axons, permit and hyperparameters', () => {
      const snapshot = checked();
      expect(snapshot).toMatchObject({
        v: 1,
        netuid: facts.netuid,
        mode: 'subtensor',
        block: facts.checkedBlock,
        chain: { specName: 'node-subtensor', specVersion: 293 },
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
      const snapshot = checked();
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
        // Weights and bonds: every row as stored, sparse (uids without entries left out).
        for (const item of ['weights', 'bonds'] as const) {
          const stored: { uid: number; entries: [number, number][] }[] = [];
          for (let uid = 0; uid < snapshot.neurons.length; uid++) {
            const row = (await q[item](facts.netuid, uid)).toJSON() as [number, number][];
            if (row.length > 0) stored.push({ uid, entries: row });
          }
          expect(snapshot[item]).toEqual(stored);
        }
        expect(snapshot.weights).toEqual([{ uid: 0, entries: facts.weights }]);
        // Every hyperparameter get_subnet_hyperparams_v2 answers, in the snapshot's units.
        const hyper = (
          await at.call.subnetInfoRuntimeApi.getSubnetHyperparamsV2(facts.netuid)
        ).toJSON() as Record<string, number | string | boolean | { bits: number }>;
        const renamed: Record<string, string> = {
          weightsVersion: 'weightsVersionKey',
          maxWeightsLimit: 'maxWeightLimit',
          commitRevealWeightsEnabled: 'commitRevealEnabled',
        };
        const units: Record<string, (v: number) => number> = {
          maxWeightsLimit: (v) => v / 65535,
          minBurn: (v) => v / 1e9,
          maxBurn: (v) => v / 1e9,
          alphaSigmoidSteepness: (v) => v / 2 ** 32,
        };
        for (const [name, value] of Object.entries(hyper)) {
          // u64 values above 2^53 come as hex from toJSON and as the nearest double in the snapshot.
          const raw =
            typeof value === 'object'
              ? value.bits
              : typeof value === 'string'
                ? Number(BigInt(value))
                : value;
          const expected = typeof raw === 'number' && units[name] ? units[name](raw) : raw;
          const key = (renamed[name] ?? name) as keyof typeof snapshot.hyperparameters;
          expect([name, snapshot.hyperparameters[key]]).toEqual([name, expected]);
        }
        // Chain identity: the genesis block's hash, and the registration block of the subnet.
        expect(snapshot.chain!.genesisHash).toBe((await api.rpc.chain.getBlockHash(0)).toHex());
        expect(snapshot.subnetRegisteredAt).toBe((await q.networkRegisteredAt(facts.netuid)).toJSON());
      } finally {
        await api.disconnect();
      }
    });

    it('marks the subnet gone at the block dissolve_network ran, and starts a new lineage when its netuid is registered again', () => {
      const old = checked();
      const same = facts.reregisteredSameBlock!;
      expect(publisher.gone).toEqual([
        expect.objectContaining({
          v: 1,
          netuid: facts.netuid,
          gone: 'dissolved',
          block: facts.dissolvedAt,
          previousRegisteredAt: old.subnetRegisteredAt,
          lastSnapshotBlock: facts.snapshots.filter((s) => s.block < facts.dissolvedAt!).at(-1)!.block,
          chain: old.chain,
        }),
        // Dissolved and registered again in one block: the registration block changed, nothing else told.
        expect.objectContaining({
          gone: 'reregistered',
          block: same,
          previousRegisteredAt: facts.reregisteredAt,
        }),
      ]);
      // Each tombstone comes before the first snapshot of the lineage that follows it.
      const order = publisher.entries.map((e) => ('gone' in e ? `gone@${e.block}` : `snapshot@${e.block}`));
      expect(order.indexOf(`gone@${facts.dissolvedAt}`)).toBeLessThan(
        order.indexOf(`snapshot@${facts.reregisteredAt}`),
      );
      expect(order.indexOf(`gone@${same}`)).toBe(order.indexOf(`snapshot@${same}`) - 1);
      const successor = publisher.published.find((s) => s.block === facts.reregisteredAt)!;
      expect(successor.subnetRegisteredAt).toBe(facts.reregisteredAt);
      expect(successor.neurons.map((n) => n.hotkey)).not.toContain(facts.validator);
      const third = publisher.published.find((s) => s.block === same)!;
      expect(third.subnetRegisteredAt).toBe(same);
      expect(third.neurons.map((n) => n.hotkey)).not.toEqual(successor.neurons.map((n) => n.hotkey));
      expect(publisher.events.map((e) => [e.event, e.block])).toEqual([
        ['registered', facts.snapshots[0].block],
        ['gone', facts.dissolvedAt],
        ['registered', facts.reregisteredAt],
        ['gone', same],
        ['registered', same],
      ]);
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
    await publisher.publish(foreign);
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
      expect(publisher.events[0]).toMatchObject({
        event: 'chain_reset',
        previous: { block: 0, blockHash: foreign.blockHash },
        reason: 'block 0 has another hash on the chain',
      });
      expect(replay.unknown).toEqual([]);
    } finally {
      await built.connection.onApplicationShutdown();
      await replay.stop();
    }
  });
});

(present ? describe : describe.skip)('ChainFollower reconnecting to the same chain reset in place', () => {
  it('drops what it served, says why, resets its progress metrics and follows the new chain', async () => {
    const facts = JSON.parse(readFileSync(fixture.replace(/\.json$/, '.facts.json'), 'utf8')) as Facts;
    const reset = facts.reset!;
    // The first endpoint is the chain as recorded; the node then comes back reset (dev_setHead), under the
    // same genesis hash, without the served block 73: the reconnect lands on the second recording.
    const before = ReplayServer.fromFile(fixture, 20);
    const after = ReplayServer.fromFile(join(root, FIXTURE_RESET_FILE), 20);
    const urls = [await before.start(), await after.start()];
    const publisher = new CollectingPublisher();
    const built = buildFollower(
      { ...followerConfig(urls[0], facts.netuid, facts.validator), endpoints: urls },
      publisher,
    );
    try {
      await built.follower.onApplicationBootstrap();
      await expectEventually(
        () => expect(built.follower.lastProcessedBlock).toBe(facts.lastProcessedBlock),
        30_000,
        50,
      );
      const served = publisher.published.at(-1)!;
      before.dropClients();
      await expectEventually(() => expect(built.follower.lastProcessedBlock).toBe(reset.head), 30_000, 50);
      expect(publisher.events.filter((e) => e.event === 'chain_reset')).toEqual([
        expect.objectContaining({
          netuid: facts.netuid,
          previous: {
            block: served.block,
            blockHash: served.blockHash,
            genesisHash: served.chain!.genesisHash,
          },
          reason: `block ${served.block} is not on the chain`,
        }),
      ]);
      // Only the new chain's snapshots remain: the old ones (and the tombstone) were dropped.
      expect(publisher.entries.map((e) => e.block)).toEqual(reset.snapshots.map((s) => s.block));
      expect(publisher.published.map((s) => s.blockHash)).toEqual(reset.snapshots.map((s) => s.blockHash));
      // The gauges describe the new chain, not the highest block ever seen.
      expect((await built.metrics.finalizedHead.get()).values[0].value).toBe(reset.head);
      expect((await built.metrics.blockHeight.get()).values[0].value).toBe(reset.head);
      expect((await built.metrics.syncLag.get()).values[0].value).toBe(0);
      expect(built.follower.readiness()).toBe(true);
      expect(before.unknown).toEqual([]);
      expect(after.unknown).toEqual([]);
    } finally {
      await built.connection.onApplicationShutdown();
      await before.stop();
      await after.stop();
    }
  });
});
