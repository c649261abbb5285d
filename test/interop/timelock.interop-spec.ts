import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { compactFromU8a, compactToU8a, u8aConcat } from '@polkadot/util';
import {
  Keypair,
  type EpochScheduleState,
  TimelockError,
  convertWeightsAndUidsForEmit,
  sdkNormalizeWeights,
  decodeWeightsTlockPayload,
  encodeWeightsTlockPayload,
  initCrypto,
  revealTarget,
  timelockDecryptBytes,
  timelockEncryptToBytes,
  timelockWeightsCommit,
} from '@chattensor/bittensor';
import { PYTHON, PYTHON_SDK10, SCRIPTS, pythonEnv } from './support/python';
import { Rng } from './support/random';

/*
 * ChatTensor's timelock encryption against both SDKs: bittensor 10.5.0's
 * bittensor-drand and 11.3.0's bittensor_core (each a pinned wheel whose Rust
 * core is the `tle` crate Subtensor itself decrypts with), and each SDK's own
 * timelocked commit helper. Decryption needs quicknet's real
 * signature for a round: these two pulses are the ones Subtensor's pallet
 * tests use.
 */
const PULSES = [
  {
    round: 1000,
    signature:
      'b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39',
  },
  {
    round: 2000,
    signature:
      'b6cb8f482a0b15d45936a4c4ea08e98a087e71787caee3f4d07a8a9843b1bc5423c6b3c22f446488b3137eaca799c77e',
  },
];

interface Oracle {
  name: string;
  python: string;
  script: string;
  /** The SDK's float weights to u16 step before a commit. */
  emit: (uids: number[], weights: number[]) => { uids: number[]; weights: number[] };
}

const ORACLES: Oracle[] = [
  {
    name: 'bittensor 10.5.0 (bittensor-drand)',
    python: PYTHON_SDK10,
    script: 'timelock_oracle.py',
    emit: convertWeightsAndUidsForEmit,
  },
  {
    name: 'bittensor 11.3.0 (bittensor_core)',
    python: PYTHON,
    script: 'timelock_oracle11.py',
    emit: sdkNormalizeWeights,
  },
];

/** Sends every request to one oracle process and returns the answers in order. */
function ask<T>(oracle: Oracle, requests: Record<string, unknown>[]): T[] {
  const input = requests.map((r, id) => JSON.stringify({ id, ...r })).join('\n') + '\n';
  const run = spawnSync(oracle.python, [join(SCRIPTS, oracle.script)], {
    input,
    env: pythonEnv(),
    encoding: 'utf8',
    timeout: 170_000,
  });
  if (run.status !== 0) throw new Error(`timelock oracle exited ${run.status}: ${run.stderr.slice(-2000)}`);
  const answers = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { id: number; result?: T; error?: string; trace?: string });
  return requests.map((_, id) => {
    const answer = answers.find((a) => a.id === id);
    if (!answer) throw new Error(`no answer to request ${id}: ${run.stderr.slice(-2000)}`);
    if (answer.error !== undefined) throw new Error(`python: ${answer.error}\n${answer.trace ?? ''}`);
    return answer.result as T;
  });
}

/** bittensor-drand's `UserData` envelope: SCALE { encrypted_data: Vec<u8>, reveal_round: u64 }. */
function envelope(ciphertext: Uint8Array, round: number): string {
  const r = Buffer.alloc(8);
  r.writeBigUInt64LE(BigInt(round));
  return Buffer.from(u8aConcat(compactToU8a(ciphertext.length), ciphertext, r)).toString('hex');
}

function openEnvelope(hex: string): { ciphertext: Buffer; round: number } {
  const bytes = Buffer.from(hex, 'hex');
  const [offset, length] = compactFromU8a(bytes);
  const end = offset + length.toNumber();
  return { ciphertext: bytes.subarray(offset, end), round: Number(bytes.subarray(end).readBigUInt64LE()) };
}

function randomState(rng: Rng): EpochScheduleState {
  const tempo = rng.pick([1, 10, 99, 360, rng.int(1, 1000)]);
  const currentBlock = rng.int(1000, 7_000_000);
  const lastEpochBlock = currentBlock - rng.int(0, tempo + 2);
  return {
    lastEpochBlock,
    pendingEpochAt: rng.chance(0.2) ? currentBlock + rng.int(0, tempo) : 0,
    subnetEpochIndex: rng.int(0, 20_000),
    tempo,
    blocksSinceLastStep: currentBlock - lastEpochBlock,
    currentBlock,
  };
}

const snake = (s: EpochScheduleState) => ({
  last_epoch_block: s.lastEpochBlock,
  pending_epoch_at: s.pendingEpochAt,
  subnet_epoch_index: s.subnetEpochIndex,
  tempo: s.tempo,
  blocks_since_last_step: s.blocksSinceLastStep,
  current_block: s.currentBlock,
});

beforeAll(async () => {
  await initCrypto();
});

describe.each(ORACLES)('timelock against $name', (oracle) => {
  describe('timelock encryption agrees with the SDK’s tle byte for byte', () => {
    it('has what ChatTensor encrypts decrypted by the Rust implementation to the same bytes', () => {
      const rng = new Rng(1293);
      const cases = Array.from({ length: 24 }, (_, i) => {
        const pulse = PULSES[i % 2];
        const data = randomBytes(rng.pick([0, 1, 31, 32, 33, 200, rng.int(0, 4096)]));
        return { pulse, data, ciphertext: timelockEncryptToBytes(data, pulse.round) };
      });
      const answers = ask<string>(
        oracle,
        cases.map((c) => ({
          op: 'decrypt_with_signature',
          envelope: envelope(c.ciphertext, c.pulse.round),
          signature: c.pulse.signature,
        })),
      );
      cases.forEach((c, i) =>
        expect({ i, plaintext: answers[i] }).toEqual({ i, plaintext: c.data.toString('hex') }),
      );
    });

    it('decrypts what the Rust implementation encrypts, and only with that round’s signature', () => {
      const cases = Array.from({ length: 12 }, (_, i) => ({
        pulse: PULSES[i % 2],
        data: randomBytes(i * 37),
      }));
      const answers = ask<{ envelope: string; round: number }>(
        oracle,
        cases.map((c) => ({ op: 'encrypt_at_round', data: c.data.toString('hex'), round: c.pulse.round })),
      );
      cases.forEach((c, i) => {
        const { ciphertext, round } = openEnvelope(answers[i].envelope);
        expect(round).toBe(c.pulse.round);
        expect(timelockDecryptBytes(ciphertext, c.pulse.signature).toString('hex')).toBe(
          c.data.toString('hex'),
        );
        const other = PULSES[(i + 1) % 2];
        expect(() => timelockDecryptBytes(ciphertext, other.signature)).toThrow(TimelockError);
      });
    });
  });

  describe('timelocked weights commits agree with the SDK', () => {
    it('opens the SDK helper’s commit to exactly the payload ChatTensor encodes, and the reverse', () => {
      const rng = new Rng(4242);
      const hotkey = Keypair.fromUri('//Alice');
      const cases = Array.from({ length: 6 }, (_, i) => {
        const n = rng.int(1, 64);
        const uids = Array.from({ length: n }, (_, k) => k * rng.int(1, 3));
        const weights = uids.map(() => (rng.chance(0.2) ? 0 : rng.next()));
        weights[rng.int(0, n - 1)] = 1; // at least one non-zero weight
        return {
          pulse: PULSES[i % 2],
          netuid: rng.int(1, 128),
          uids,
          weights,
          versionKey: rng.int(0, 10_000_000),
          state: randomState(rng),
        };
      });
      const answers = ask<{
        function: string;
        netuid: number;
        mecid: number;
        commit: string;
        round: number;
        commit_reveal_version: number;
        hotkey: string;
      }>(
        oracle,
        cases.map((c) => ({
          op: 'sdk_commit_at_round',
          hotkey_uri: '//Alice',
          netuid: c.netuid,
          uids: c.uids,
          weights: c.weights,
          version_key: c.versionKey,
          reveal_period: 1,
          round: c.pulse.round,
          state: snake(c.state),
        })),
      );
      const ours = cases.map((c) => {
        const emitted = oracle.emit(c.uids, c.weights);
        return encodeWeightsTlockPayload(
          { hotkey: hotkey.publicKey, uids: emitted.uids, values: emitted.weights, versionKey: c.versionKey },
          'with-hotkey',
        );
      });
      cases.forEach((c, i) => {
        const sdk = answers[i];
        expect({
          fn: sdk.function,
          netuid: sdk.netuid,
          mecid: sdk.mecid,
          round: sdk.round,
          version: sdk.commit_reveal_version,
        }).toEqual({
          fn: 'commit_timelocked_mechanism_weights',
          netuid: c.netuid,
          mecid: 0,
          round: c.pulse.round,
          version: 4,
        });
        expect(sdk.hotkey).toBe(Buffer.from(hotkey.publicKey).toString('hex'));
        const plaintext = timelockDecryptBytes(sdk.commit, c.pulse.signature);
        expect(plaintext.toString('hex')).toBe(Buffer.from(ours[i]).toString('hex'));
        expect(decodeWeightsTlockPayload(plaintext, 'with-hotkey').versionKey).toBe(BigInt(c.versionKey));
      });
      // The other way: ChatTensor's commits, opened by the Rust side, give the same payload bytes.
      const back = ask<string>(
        oracle,
        cases.map((c, i) => ({
          op: 'decrypt_with_signature',
          envelope: envelope(timelockEncryptToBytes(ours[i], c.pulse.round), c.pulse.round),
          signature: c.pulse.signature,
        })),
      );
      back.forEach((plaintext, i) => expect(plaintext).toBe(Buffer.from(ours[i]).toString('hex')));
    });

    it('locks to the same drand round as get_encrypted_commit_v2 for 200 epoch states', () => {
      const rng = new Rng(77);
      const hotkey = Buffer.alloc(32, 7).toString('hex');
      // A 3000 s block makes every block of difference in the predicted reveal
      // block a difference of 1000 rounds, so agreement here is agreement on the
      // reveal block as well as on the round arithmetic.
      const cases = Array.from({ length: 200 }, () => ({
        state: randomState(rng),
        revealPeriod: rng.pick([1, 1, 2, 3, rng.int(1, 10)]),
        blockTime: rng.pick([12, 0.25, 3000]),
      }));
      const answers = ask<{ round: number; before: number; after: number }>(
        oracle,
        cases.map((c) => ({
          op: 'commit_v2',
          uids: [0],
          weights: [65535],
          version_key: 1,
          hotkey,
          state: snake(c.state),
          reveal_period: c.revealPeriod,
          block_time: c.blockTime,
        })),
      );
      cases.forEach((c, i) => {
        const { round, before, after } = answers[i];
        const schedule = {
          model: 'epoch-state' as const,
          state: c.state,
          revealPeriodEpochs: c.revealPeriod,
        };
        const earliest = revealTarget(schedule, c.blockTime, before).round;
        const latest = revealTarget(schedule, c.blockTime, after).round;
        expect({ i, round, inRange: round >= earliest && round <= latest }).toEqual({
          i,
          round,
          inRange: true,
        });
      });
    });

    it('produces a whole commit (payload, round, ciphertext) the Rust side opens', () => {
      const state: EpochScheduleState = {
        lastEpochBlock: 100,
        pendingEpochAt: 0,
        subnetEpochIndex: 5,
        tempo: 360,
        blocksSinceLastStep: 20,
        currentBlock: 120,
      };
      const schedule = { model: 'epoch-state' as const, state, revealPeriodEpochs: 1 };
      const { revealBlock } = revealTarget(schedule, 12, 0);
      // A clock that puts the predicted reveal time inside round 2000, whose signature is known.
      const nowSeconds = 1_692_803_367 + 2000 * 3 + 1.5 - (revealBlock + 3 - state.currentBlock) * 12;
      const hotkey = Keypair.fromUri('//Bob').publicKey;
      const made = timelockWeightsCommit({
        weights: { hotkey, uids: [1, 4, 9], values: [65535, 100, 0], versionKey: 2_004_000 },
        format: 'with-hotkey',
        schedule,
        blockTimeSeconds: 12,
        nowSeconds,
      });
      expect(made.round).toBe(2000);
      const [plaintext] = ask<string>(oracle, [
        {
          op: 'decrypt_with_signature',
          envelope: envelope(made.commit, made.round),
          signature: PULSES[1].signature,
        },
      ]);
      expect(plaintext).toBe(Buffer.from(made.payload).toString('hex'));
    });
  });
});
