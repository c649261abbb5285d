import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { TypeRegistry, Metadata } from '@polkadot/types';
import { expandMetadata } from '@polkadot/types/metadata/decorate';
import {
  decodeWeightsTlockPayload,
  initCrypto,
  Keypair,
  revealTarget,
  timelockDecryptBytes,
} from '@chattensor/bittensor';
import { timelockCommitCall, timelockPlan, type TimelockCommitInput } from './extrinsic-writer.service';

/** The spec-293 runtime's own metadata (see the shared Subtensor notes); the path can be overridden. */
const METADATA = resolve(
  process.env.SUBTENSOR_METADATA_SPEC293 ??
    resolve(__dirname, '../../../../../shared/subtensor/metadata-v15-spec293.hex'),
);

/** Quicknet's real signature for round 1000 (Subtensor's drand pallet tests). */
const ROUND_1000 =
  'b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39';

function decorate() {
  const registry = new TypeRegistry();
  const metadata = new Metadata(registry, readFileSync(METADATA, 'utf8').trim() as `0x${string}`);
  registry.setMetadata(metadata);
  return expandMetadata(registry, metadata);
}

const withMetadata = existsSync(METADATA) ? describe : describe.skip;
if (!existsSync(METADATA))
  console.warn(
    `spec-293 metadata not found at ${METADATA} (SUBTENSOR_METADATA_SPEC293): its tests are skipped`,
  );

withMetadata('timelocked weights on the spec-293 runtime (real metadata, offline)', () => {
  let chain: ReturnType<typeof decorate>;
  let alice: Keypair;

  beforeAll(async () => {
    await initCrypto();
    chain = decorate();
    alice = Keypair.fromUri('//Alice');
  });

  it('chooses commit_crv3_weights with the legacy payload and the CRv3 reveal schedule', () => {
    expect(timelockPlan(chain as never)).toEqual({
      call: 'commit_crv3_weights',
      format: 'legacy',
      model: 'crv3',
    });
  });

  it('encodes a commit the chain decodes, locked to the predicted round, opening to the weights', () => {
    const input: TimelockCommitInput = {
      plan: timelockPlan(chain)!,
      netuid: 2,
      hotkey: alice.ss58Address,
      uids: [0, 3, 7],
      weights: [65535, 1200, 9],
      versionKey: 2_004_000,
      currentBlock: 5_123,
      tempo: 360,
      revealPeriodEpochs: 1,
      commitRevealVersion: 4,
      blockTimeMs: 12_000,
    };
    // A clock under which the predicted round is 1000, whose signature is known.
    const { revealBlock } = revealTarget({ model: 'crv3', ...input }, 12, 0);
    const nowSeconds = 1_692_803_367 + 1024 * 3 - 1.5 - (revealBlock - input.currentBlock) * 12;
    const made = timelockCommitCall({ ...input, nowSeconds });
    expect({ method: made.method, round: made.round, revealBlock: made.revealBlock }).toEqual({
      method: 'commitCrv3Weights',
      round: 1000,
      revealBlock: 5_412, // block 5123 is in epoch 14 of netuid 2 at tempo 360; epoch 15 starts at 15 * 361 - 3
    });

    const call = chain.tx.subtensorModule[made.method](...made.args);
    const decoded = chain.registry.createType('Call', call.toU8a());
    expect(`${decoded.section}.${decoded.method}`).toBe('subtensorModule.commitCrv3Weights');
    const [netuid, commit, round] = decoded.args;
    expect(netuid.toString()).toBe('2');
    expect(round.toString()).toBe('1000');
    const payload = timelockDecryptBytes(commit.toU8a(true), ROUND_1000);
    expect(decodeWeightsTlockPayload(payload, 'legacy')).toEqual({
      uids: [0, 3, 7],
      values: [65535, 1200, 9],
      versionKey: 2_004_000n,
    });
  });

  it('refuses a commit above the runtime bound instead of sending it', () => {
    const uids = Array.from({ length: 2400 }, (_, i) => i);
    expect(() =>
      timelockCommitCall({
        plan: timelockPlan(chain as never)!,
        netuid: 2,
        hotkey: alice.ss58Address,
        uids,
        weights: uids,
        versionKey: 1,
        currentBlock: 100,
        tempo: 360,
        revealPeriodEpochs: 1,
        commitRevealVersion: 4,
        blockTimeMs: 12_000,
      }),
    ).toThrow(/above the runtime's 5000/);
  });
});

describe('timelock plan for newer runtimes', () => {
  const drand = { drand: { pulses: {} } };

  it('uses commit_timelocked_weights with the hotkey payload, and the stateful epochs where the runtime keeps them', () => {
    const tx = { subtensorModule: { commitTimelockedWeights: {}, commitCrv3Weights: {} } };
    const stateful = {
      lastEpochBlock: {},
      pendingEpochAt: {},
      subnetEpochIndex: {},
      blocksSinceLastStep: {},
    };
    expect(timelockPlan({ tx, query: { ...drand, subtensorModule: stateful } })).toEqual({
      call: 'commit_timelocked_weights',
      format: 'with-hotkey',
      model: 'epoch-state',
    });
    expect(timelockPlan({ tx, query: { ...drand, subtensorModule: {} } })).toMatchObject({ model: 'tempo' });
  });

  it('offers no timelock path without the call or without a Drand pallet', () => {
    expect(timelockPlan({ tx: { subtensorModule: { commitWeights: {} } }, query: drand })).toBeUndefined();
    expect(
      timelockPlan({ tx: { subtensorModule: { commitTimelockedWeights: {} } }, query: {} }),
    ).toBeUndefined();
  });
});
