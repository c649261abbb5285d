/**
 * Opt-in (`SUBTENSOR_WS`, a Subtensor dev chain under chopsticks; see
 * docs/chain.md): the runtime itself opens a timelocked weights commit built
 * by the chain-indexer's writer code and sets exactly the committed weights.
 * A local chain fetches no drand pulses, so the test stores quicknet's real
 * pulse for round 1000 (from Subtensor's pallet tests) and locks the commit
 * to that round.
 */
import {
  bestBlock,
  connectHarness,
  createSubnet,
  runEpochs,
  send,
  type Harness,
  type SubnetSetup,
} from '../../bench/chain/dev-chain';
import { revealTarget } from '@chattensor/bittensor';
import {
  timelockCommitCall,
  timelockPlan,
  type TimelockCommitInput,
} from '../../services/chain-indexer/src/subtensor/extrinsic-writer.service';

const endpoint = process.env.SUBTENSOR_WS;
const describeLive = endpoint ? describe : describe.skip;

const PULSE_1000 = {
  round: 1000,
  randomness: '0xfe290beca10872ef2fb164d2aa4442de4566183ec51c56ff3cd603d930e54fdd',
  signature:
    '0xb44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39',
};
const QUICKNET_GENESIS = 1_692_803_367;

jest.setTimeout(900_000);

describeLive('a timelocked weights commit on a real Subtensor runtime', () => {
  let h: Harness;
  let subnet: SubnetSetup;

  beforeAll(async () => {
    h = await connectHarness(endpoint!);
    subnet = await createSubnet(h, { miners: 3, tempo: 10, commitReveal: true, tag: `tlock-${Date.now()}` });
    // The validator permit comes with the first epoch after staking.
    await runEpochs(h, subnet.netuid, 2);
  });

  afterAll(async () => {
    await h?.close();
  });

  it('is revealed by the runtime with the round’s pulse, setting exactly the committed weights', async () => {
    const { api } = h;
    const plan = timelockPlan(api);
    if (!plan) throw new Error('this runtime offers no timelocked commit');
    if (plan.model === 'epoch-state') throw new Error('this test drives the tempo-based runtimes only');
    await api.rpc('dev_setStorage', { Drand: { Pulses: [[[1000], PULSE_1000]], LastStoredRound: 1000 } });

    const q = api.query.subtensorModule;
    const tempo = Number((await q.tempo(subnet.netuid)).toString());
    const revealPeriodEpochs = Number((await q.revealPeriodEpochs(subnet.netuid)).toString());
    const versionKey = Number((await q.weightsVersionKey(subnet.netuid)).toString());
    const input: TimelockCommitInput = {
      plan,
      netuid: subnet.netuid,
      hotkey: subnet.validator.address,
      uids: [1, 2, 3],
      weights: [65535, 30000, 7],
      versionKey,
      currentBlock: await bestBlock(api),
      tempo,
      revealPeriodEpochs,
      commitRevealVersion: 4,
      blockTimeMs: 12_000,
    };
    // The clock under which the writer's prediction is round 1000.
    const schedule = { model: plan.model, ...input };
    const roundAt = (now: number) => revealTarget(schedule, 12, now).round;
    let nowSeconds = QUICKNET_GENESIS;
    nowSeconds += (1000 - roundAt(nowSeconds)) * 3;
    while (roundAt(nowSeconds) < 1000) nowSeconds += 1;
    while (roundAt(nowSeconds) > 1000) nowSeconds -= 1;
    const made = timelockCommitCall({ ...input, nowSeconds });
    expect(made.round).toBe(1000);

    await send(api, api.tx.subtensorModule[made.method](...made.args), subnet.validator);
    const uid = Number((await q.uids(subnet.netuid, subnet.validator.address)).toString());
    expect((await q.weights(subnet.netuid, uid)).toJSON()).toEqual([]);

    await runEpochs(h, subnet.netuid, revealPeriodEpochs + 1);
    expect((await q.weights(subnet.netuid, uid)).toJSON()).toEqual([
      [1, 65535],
      [2, 30000],
      [3, 7],
    ]);
  });
});
