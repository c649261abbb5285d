/**
 * Records the fixtures CI replays: `SUBTENSOR_RECORD=1 SUBTENSOR_WS=ws://... npm run chain:record`.
 * Sets up a subnet on the live runtime, then runs the indexer's follower
 * through a recording proxy while blocks are built, and stores every JSON-RPC
 * answer (metadata included) in test/fixtures/subtensor/.
 */
import { writeFileSync } from 'node:fs';
import { ApiPromise, WsProvider } from '@polkadot/api';
import { expectEventually } from '../support/expect-eventually';
import {
  bestBlock,
  connectHarness,
  createSubnet,
  newBlocks,
  runEpochs,
  send,
  sudo,
  TAO,
} from '../../bench/chain/dev-chain';
import { RecordingProxy } from './rpc-recording';
import {
  buildFollower,
  CollectingPublisher,
  FIXTURE_FILE,
  FIXTURE_RESET_FILE,
  followerConfig,
  type ScenarioFacts,
} from './scenario-fixture';

const enabled = process.env.SUBTENSOR_RECORD === '1' && !!process.env.SUBTENSOR_WS;
(enabled ? it : it.skip)(
  'records the follower against the live runtime',
  async () => {
    const h = await connectHarness(process.env.SUBTENSOR_WS!);
    const subnet = await createSubnet(h, {
      miners: 3,
      tempo: 10,
      weightsRateLimit: 0,
      tag: `fixture-${Date.now()}`,
    });
    const minerAxons = subnet.miners.map((_, i) => ({ ip: `10.0.0.${i + 1}`, port: 8091 + i }));
    for (const [i, miner] of subnet.miners.entries()) {
      await send(
        h.api,
        h.api.tx.subtensorModule.serveAxon(
          subnet.netuid,
          1,
          0x0a000001n + BigInt(i),
          minerAxons[i].port,
          4,
          4,
          0,
          0,
        ),
        miner,
      );
    }
    await runEpochs(h, subnet.netuid, 1);
    await send(
      h.api,
      h.api.tx.subtensorModule.setWeights(subnet.netuid, [1, 2, 3], [65535, 39321, 26214], 0),
      subnet.validator,
    );
    await runEpochs(h, subnet.netuid, 2);

    const proxy = new RecordingProxy(process.env.SUBTENSOR_WS!);
    const url = await proxy.start();
    const publisher = new CollectingPublisher();
    const { follower, connection } = buildFollower(
      followerConfig(url, subnet.netuid, subnet.validator.address),
      publisher,
    );
    await follower.onApplicationBootstrap();
    await expectEventually(() => expect(follower.lastProcessedBlock).toBeDefined(), 120_000, 200);
    // A change between blocks (more stake) so the replay sees more than one snapshot.
    await send(
      h.api,
      h.api.tx.subtensorModule.addStake(subnet.validator.address, subnet.netuid, 10n * TAO),
      subnet.owner,
    );
    const head = await newBlocks(h.api, 3);
    await expectEventually(() => expect(follower.lastProcessedBlock).toBe(head), 120_000, 200);

    // What the chain holds at the last snapshot, through the same proxy, for the replay test to compare against.
    const last = publisher.published.at(-1)!;
    const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
    const at = await api.at(last.blockHash!);
    for (const item of [
      'incentive',
      'dividends',
      'consensus',
      'validatorTrust',
      'lastUpdate',
      'validatorPermit',
      'active',
      'emission',
    ]) {
      await at.query.subtensorModule[item](subnet.netuid);
    }
    await at.call.neuronInfoRuntimeApi.getNeuronsLite(subnet.netuid);
    await at.call.subnetInfoRuntimeApi.getSubnetHyperparamsV2(subnet.netuid);
    await at.query.subtensorModule.networkRegisteredAt(subnet.netuid);
    for (let uid = 0; uid < last.neurons.length; uid++) {
      await at.query.subtensorModule.weights(subnet.netuid, uid);
      await at.query.subtensorModule.bonds(subnet.netuid, uid);
    }
    await api.disconnect();

    // The subnet's end, then its netuid given to a new subnet: the follower must see both at their blocks.
    const dissolved = await sudo(
      h,
      h.api.tx.subtensorModule.dissolveNetwork(subnet.owner.address, subnet.netuid),
    );
    const dissolvedAt = await bestBlock(h.api);
    if (!dissolved.some((e) => e.event.method === 'NetworkRemoved'))
      throw new Error('dissolve_network removed nothing');
    await newBlocks(h.api, 2);
    const successor = h.keyring.addFromUri(`//Alice//successor-${Date.now()}`);
    const added = await send(
      h.api,
      h.api.tx.subtensorModule.registerNetwork(successor.address),
      subnet.owner,
    );
    const reregisteredAt = await bestBlock(h.api);
    const netuidAgain = Number(
      added.find((e) => e.event.method === 'NetworkAdded')!.event.data[0].toString(),
    );
    if (netuidAgain !== subnet.netuid)
      throw new Error(`register_network gave netuid ${netuidAgain}, not ${subnet.netuid}`);
    await newBlocks(h.api, 2);
    // Dissolved and registered again within one block: only the registration block tells the two apart.
    const aliceNonce = (await h.api.rpc.system.accountNextIndex(subnet.owner.address)).toNumber();
    const dissolveAgain = await h.api.tx.sudo
      .sudo(h.api.tx.subtensorModule.dissolveNetwork(subnet.owner.address, subnet.netuid))
      .signAsync(h.sudo, { nonce: aliceNonce, era: 0 });
    const third = h.keyring.addFromUri(`//Alice//third-${Date.now()}`);
    const registerAgain = await h.api.tx.subtensorModule
      .registerNetwork(third.address)
      .signAsync(subnet.owner, { nonce: aliceNonce + 1, era: 0 });
    await h.api.rpc('dev_newBlock', { transactions: [dissolveAgain.toHex(), registerAgain.toHex()] });
    const reregisteredSameBlock = await bestBlock(h.api);
    const registeredAtNow = Number(
      (await h.api.query.subtensorModule.networkRegisteredAt(subnet.netuid)).toString(),
    );
    if (registeredAtNow !== reregisteredSameBlock) {
      throw new Error(
        `netuid ${subnet.netuid} registered at ${registeredAtNow}, not in block ${reregisteredSameBlock}`,
      );
    }
    const end = await newBlocks(h.api, 2);
    await expectEventually(() => expect(follower.lastProcessedBlock).toBe(end), 120_000, 200);

    // The node drops the follower: on reconnecting it checks the served blocks against the chain.
    const firstSession = connection.current;
    proxy.dropClients();
    await expectEventually(
      () => {
        expect(connection.current).toBeDefined();
        expect(connection.current).not.toBe(firstSession);
        expect(
          proxy.calls.filter(
            (c) => c.method === 'chain_getBlockHash' && JSON.stringify(c.params) === `[${end}]`,
          ),
        ).toHaveLength(1);
      },
      60_000,
      100,
    );
    await connection.onApplicationShutdown();
    // Heads that arrived while shutting down were not (fully) processed: the replay stops where the follower did.
    const lastProcessedBlock = follower.lastProcessedBlock!;
    for (const subscription of proxy.subscriptions) {
      if (subscription.method === 'chain_subscribeFinalizedHeads') {
        subscription.results = subscription.results.filter(
          (header) => parseInt((header as { number: string }).number, 16) <= lastProcessedBlock,
        );
      }
    }

    const facts: Omit<ScenarioFacts, 'lastProcessedBlock'> = {
      netuid: subnet.netuid,
      validator: subnet.validator.address,
      miners: subnet.miners.map((m) => m.address),
      minerAxons,
      tempo: 10,
      weightsRateLimit: 0,
      weights: [
        [1, 65535],
        [2, 39321],
        [3, 26214],
      ],
      dissolvedAt,
      reregisteredAt,
      reregisteredSameBlock,
      checkedBlock: last.block,
    };
    proxy.save(
      FIXTURE_FILE,
      'Subtensor spec 293 under chopsticks; recorded by test/chain/record-fixtures.e2e-spec.ts',
    );
    await proxy.stop();

    // The same dev chain reset in place (chopsticks' dev_setHead, as a restarted dev node under the same
    // genesis hash): blocks after `resetTo` are rebuilt under other hashes, and the served block 73 is
    // not on the chain. A follower that served phase one's last snapshot connects to it.
    const resetTo = dissolvedAt - 3;
    await h.api.rpc('dev_setHead', resetTo);
    await newBlocks(h.api, 2);
    const resetProxy = new RecordingProxy(process.env.SUBTENSOR_WS!);
    const resetUrl = await resetProxy.start();
    const resetPublisher = new CollectingPublisher();
    await resetPublisher.publish(publisher.published.at(-1)!);
    const reset = buildFollower(
      followerConfig(resetUrl, subnet.netuid, subnet.validator.address),
      resetPublisher,
    );
    await reset.follower.onApplicationBootstrap();
    await expectEventually(
      () => expect(resetPublisher.events.map((e) => e.event)).toContain('chain_reset'),
      120_000,
      200,
    );
    await expectEventually(() => expect(reset.follower.lastProcessedBlock).toBe(resetTo + 2), 120_000, 200);
    const resetHead = await newBlocks(h.api, 2);
    await expectEventually(() => expect(reset.follower.lastProcessedBlock).toBe(resetHead), 120_000, 200);
    await reset.connection.onApplicationShutdown();
    for (const subscription of resetProxy.subscriptions) {
      if (subscription.method === 'chain_subscribeFinalizedHeads') {
        subscription.results = subscription.results.filter(
          (header) => parseInt((header as { number: string }).number, 16) <= resetHead,
        );
      }
    }
    resetProxy.save(
      FIXTURE_RESET_FILE,
      'Subtensor spec 293 under chopsticks after dev_setHead; recorded by test/chain/record-fixtures.e2e-spec.ts',
    );
    await resetProxy.stop();
    writeFileSync(
      FIXTURE_FILE.replace(/\.json$/, '.facts.json'),
      `${JSON.stringify({ ...facts, lastProcessedBlock, snapshots: publisher.published.map((s) => ({ block: s.block, blockHash: s.blockHash })), gone: publisher.gone.map((g) => ({ block: g.block, gone: g.gone })), reset: { resetTo, head: resetHead, snapshots: resetPublisher.published.map((s) => ({ block: s.block, blockHash: s.blockHash })) } }, null, 2)}\n`,
    );
    await h.close();
  },
  900_000,
);
