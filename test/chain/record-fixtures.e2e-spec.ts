/**
 * Records the fixtures CI replays: `SUBTENSOR_RECORD=1 SUBTENSOR_WS=ws://... npm run chain:record`.
 * Sets up a subnet on the live runtime, then runs the indexer's follower
 * through a recording proxy while blocks are built, and stores every JSON-RPC
 * answer (metadata included) in test/fixtures/subtensor/.
 */
import { writeFileSync } from 'node:fs';
import { ApiPromise, WsProvider } from '@polkadot/api';
import { expectEventually } from '../support/expect-eventually';
import { connectHarness, createSubnet, newBlocks, runEpochs, send, TAO } from '../../bench/chain/dev-chain';
import { RecordingProxy } from './rpc-recording';
import { buildFollower, CollectingPublisher, FIXTURE_FILE, followerConfig, type ScenarioFacts } from './scenario-fixture';

const enabled = process.env.SUBTENSOR_RECORD === '1' && !!process.env.SUBTENSOR_WS;
(enabled ? it : it.skip)('records the follower against the live runtime', async () => {
  const h = await connectHarness(process.env.SUBTENSOR_WS!);
  const subnet = await createSubnet(h, { miners: 3, tempo: 10, weightsRateLimit: 0, tag: `fixture-${Date.now()}` });
  const minerAxons = subnet.miners.map((_, i) => ({ ip: `10.0.0.${i + 1}`, port: 8091 + i }));
  for (const [i, miner] of subnet.miners.entries()) {
    await send(h.api, h.api.tx.subtensorModule.serveAxon(subnet.netuid, 1, 0x0a000001n + BigInt(i), minerAxons[i].port, 4, 4, 0, 0), miner);
  }
  await runEpochs(h, subnet.netuid, 1);
  await send(h.api, h.api.tx.subtensorModule.setWeights(subnet.netuid, [1, 2, 3], [65535, 39321, 26214], 0), subnet.validator);
  await runEpochs(h, subnet.netuid, 2);

  const proxy = new RecordingProxy(process.env.SUBTENSOR_WS!);
  const url = await proxy.start();
  const publisher = new CollectingPublisher();
  const { follower, connection } = buildFollower(followerConfig(url, subnet.netuid, subnet.validator.address), publisher);
  await follower.onApplicationBootstrap();
  await expectEventually(() => expect(follower.lastProcessedBlock).toBeDefined(), 120_000, 200);
  // A change between blocks (more stake) so the replay sees more than one snapshot.
  await send(h.api, h.api.tx.subtensorModule.addStake(subnet.validator.address, subnet.netuid, 10n * TAO), subnet.owner);
  const head = await newBlocks(h.api, 3);
  await expectEventually(() => expect(follower.lastProcessedBlock).toBe(head), 120_000, 200);

  // What the chain holds at the last snapshot, through the same proxy, for the replay test to compare against.
  const last = publisher.published.at(-1)!;
  const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
  const at = await api.at(last.blockHash!);
  for (const item of ['incentive', 'dividends', 'consensus', 'validatorTrust', 'lastUpdate', 'validatorPermit', 'active', 'emission']) {
    await at.query.subtensorModule[item](subnet.netuid);
  }
  await at.call.neuronInfoRuntimeApi.getNeuronsLite(subnet.netuid);
  await at.query.subtensorModule.weights(subnet.netuid, 0);
  await api.disconnect();
  await connection.onApplicationShutdown();
  // Heads that arrived while shutting down were not (fully) processed: the replay stops where the follower did.
  const lastProcessedBlock = follower.lastProcessedBlock!;
  for (const subscription of proxy.subscriptions) {
    if (subscription.method === 'chain_subscribeFinalizedHeads') {
      subscription.results = subscription.results.filter((header) => parseInt((header as { number: string }).number, 16) <= lastProcessedBlock);
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
  };
  proxy.save(FIXTURE_FILE, 'Subtensor spec 293 under chopsticks; recorded by test/chain/record-fixtures.e2e-spec.ts');
  writeFileSync(FIXTURE_FILE.replace(/\.json$/, '.facts.json'), `${JSON.stringify({ ...facts, lastProcessedBlock, snapshots: publisher.published.map((s) => ({ block: s.block, blockHash: s.blockHash })) }, null, 2)}\n`);
  await proxy.stop();
  await h.close();
}, 900_000);
