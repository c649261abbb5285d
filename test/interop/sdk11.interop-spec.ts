import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CRYPTO_ED25519,
  CRYPTO_SR25519,
  Keypair,
  U16_MAX,
  Wallet,
  WeightsError,
  conformWeights,
  initCrypto,
  verifySignature,
  type CryptoType,
} from '@chattensor/bittensor';
import { PYTHON, PythonOracle } from './support/python';
import { Rng } from './support/random';

/*
 * Wallets and weights against the current SDK (bittensor 11.3.0, the .venv):
 * sr25519 and ed25519 hotkeys written by either side load on the other as the
 * same key, and float scores become the same u16 weights (or the same
 * refusal) as the SDK's SetWeights conforming step.
 */
let py: PythonOracle;
let dir: string;

beforeAll(async () => {
  await initCrypto();
  py = new PythonOracle('oracle11.py', PYTHON);
  dir = await mkdtemp(join(tmpdir(), 'sdk11-wallets-'));
});

afterAll(async () => {
  await py.close();
  await rm(dir, { recursive: true, force: true });
});

describe('wallets with bittensor 11.3.0', () => {
  it.each([
    ['sr25519', CRYPTO_SR25519],
    ['ed25519', CRYPTO_ED25519],
  ] as const)(
    'loads an %s hotkey the SDK created, and the SDK loads ours, as the same key',
    async (_name, cryptoType: CryptoType) => {
      const theirs = await py.call<{ hotkey: string; crypto_type: number }>('create_wallet', {
        name: `py-${cryptoType}`,
        hotkey: 'h',
        path: dir,
        crypto_type: cryptoType,
      });
      const loaded = await new Wallet({ path: dir, name: `py-${cryptoType}`, hotkey: 'h' }).loadHotkey();
      expect({ address: loaded.ss58Address, cryptoType: loaded.cryptoType }).toEqual({
        address: theirs.hotkey,
        cryptoType,
      });
      expect(
        await py.call<boolean>('verify', {
          message: 'signed by ts',
          signature: loaded.sign('signed by ts'),
          ss58: loaded.ss58Address,
          crypto_type: cryptoType,
        }),
      ).toBe(true);

      const ours = Keypair.generate(12, cryptoType);
      await new Wallet({ path: dir, name: `ts-${cryptoType}`, hotkey: 'h' }).writeHotkey(ours);
      const read = await py.call<{ hotkey: string; crypto_type: number; signature: string }>('load_hotkey', {
        name: `ts-${cryptoType}`,
        hotkey: 'h',
        path: dir,
        message: 'signed by py',
      });
      expect({ address: read.hotkey, cryptoType: read.crypto_type }).toEqual({
        address: ours.ss58Address,
        cryptoType,
      });
      expect(verifySignature('signed by py', read.signature, ours.ss58Address, cryptoType)).toBe(true);
      // ed25519 signatures are deterministic: the same key signs the same bytes on both sides.
      if (cryptoType === CRYPTO_ED25519) expect(read.signature).toBe(ours.sign('signed by py'));
    },
  );

  it('derives the same ed25519 and sr25519 keys from URIs and mnemonics', async () => {
    const mnemonic = 'legal winner thank year wave sausage worth useful legal winner thank yellow';
    for (const cryptoType of [CRYPTO_SR25519, CRYPTO_ED25519] as const) {
      for (const source of [{ uri: '//Alice' }, { uri: '//Alice//stash' }, { mnemonic }]) {
        const theirs = await py.call<{ ss58: string; public_key: string }>('keypair', {
          ...source,
          crypto_type: cryptoType,
        });
        const ours =
          'uri' in source
            ? Keypair.fromUri(source.uri!, cryptoType)
            : Keypair.fromMnemonic(source.mnemonic, cryptoType);
        expect({ source, cryptoType, ss58: ours.ss58Address }).toEqual({
          source,
          cryptoType,
          ss58: theirs.ss58,
        });
      }
    }
  });

  it('refuses, naming the file, an ed25519 keyfile whose cryptoType was lost', async () => {
    const key = Keypair.generate(12, CRYPTO_ED25519);
    const wallet = new Wallet({ path: dir, name: 'retyped', hotkey: 'h' });
    await wallet.writeHotkey(key);
    const file = JSON.parse(await readFile(wallet.hotkeyFile, 'utf8')) as Record<string, unknown>;
    await writeFile(wallet.hotkeyFile, JSON.stringify({ ...file, cryptoType: 1 }));
    await expect(wallet.loadHotkey()).rejects.toThrow(
      expect.objectContaining({
        code: 'address_mismatch',
        message: expect.stringContaining(wallet.hotkeyFile),
      }),
    );
  });
});

interface PyConformed {
  uids?: number[];
  weights?: number[];
  error?: string;
  message?: string;
}

function randomCase(rng: Rng) {
  const n = rng.int(1, rng.chance(0.2) ? 1024 : 256);
  const shape = rng.int(0, 5);
  const weights = Array.from({ length: n }, () => {
    if (rng.chance(shape === 0 ? 0.9 : 0.3)) return 0;
    switch (shape) {
      case 1:
        return rng.next() ** 8; // a few large, many tiny: the max-weight cap bites
      case 2:
        return rng.int(0, 20) / 20; // ties and repeated values
      case 3:
        return rng.next() * 10 ** rng.int(-6, 6);
      case 4:
        return rng.chance(0.5) ? 0 : rng.next(); // often all zero
      default:
        return rng.next();
    }
  });
  if (shape === 4 && rng.chance(0.3)) weights.fill(0);
  const uids = Array.from({ length: n }, (_, i) => i);
  return {
    uids,
    weights,
    maxWeightLimit: rng.pick([U16_MAX, 32_767, 455, 6553, rng.int(1, U16_MAX)]),
    minAllowedWeights: rng.pick([0, 1, 8, rng.int(0, n + 10)]),
    selfUid: rng.chance(0.1) ? 0 : undefined,
  };
}

describe('weights with bittensor 11.3.0', () => {
  it('conforms 1,500 random score vectors to the same u16 weights or the same refusal', async () => {
    const rng = new Rng(1130);
    const cases = Array.from({ length: 1500 }, () => randomCase(rng));
    // A few single self-weights, exempt from both limits.
    cases.push({ uids: [0], weights: [0.25], maxWeightLimit: 100, minAllowedWeights: 8, selfUid: 0 });
    cases.push({ uids: [0], weights: [0], maxWeightLimit: 100, minAllowedWeights: 8, selfUid: 0 });
    const answers = await Promise.all(
      cases.map((c) =>
        py.call<PyConformed>('conform_weights', {
          uids: c.uids,
          weights: c.weights,
          max_weight_limit: c.maxWeightLimit,
          min_allowed_weights: c.minAllowedWeights,
          ...(c.selfUid === undefined ? {} : { self_uid: c.selfUid }),
        }),
      ),
    );
    let set = 0;
    cases.forEach((c, i) => {
      let ours: { uids?: number[]; weights?: number[]; refused?: string };
      try {
        ours = conformWeights({
          uids: c.uids,
          weights: c.weights,
          maxWeightLimitU16: c.maxWeightLimit,
          minAllowedWeights: c.minAllowedWeights,
          selfUid: c.selfUid,
        });
        set++;
      } catch (error) {
        if (!(error instanceof WeightsError)) throw error;
        ours = { refused: error.reason === 'too_few_weights' ? 'ChainError' : 'BittensorError' };
      }
      const theirs = answers[i].error
        ? { refused: answers[i].error }
        : { uids: answers[i].uids, weights: answers[i].weights };
      expect({ i, ...ours }).toEqual({ i, ...theirs });
    });
    // Most cases set weights; the rest exercise the refusals.
    expect(set).toBeGreaterThan(1000);
  });
});
