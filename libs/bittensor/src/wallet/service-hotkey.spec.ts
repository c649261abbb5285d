import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@chattensor/common';
import { CRYPTO_ED25519, Keypair, initCrypto } from '../keys/keypair';
import { loadServiceHotkey } from './service-hotkey';
import { Wallet } from './wallet';

describe('loadServiceHotkey', () => {
  const dir = mkdtempSync(join(tmpdir(), 'service-hotkey-'));

  beforeAll(() => initCrypto());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a hotkey from a secret URI', async () => {
    expect((await loadServiceHotkey({ uri: '//Alice' })).ss58Address).toBe(Keypair.fromUri('//Alice').ss58Address);
  });

  it('loads an ed25519 hotkey from a secret URI when asked (HOTKEY_CRYPTO_TYPE)', async () => {
    // The SDK's ed25519 //Alice (bittensor_core Keypair.create_from_uri("//Alice", CRYPTO_ED25519)).
    const alice = await loadServiceHotkey({ uri: '//Alice', cryptoType: 'ed25519' });
    expect({ address: alice.ss58Address, cryptoType: alice.cryptoType }).toEqual({ address: '5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu', cryptoType: CRYPTO_ED25519 });
  });

  it('loads the hotkey of a wallet folder', async () => {
    const { hotkey } = await new Wallet({ path: dir, name: 'ops', hotkey: 'miner1' }).create();
    const loaded = await loadServiceHotkey({ walletPath: dir, walletName: 'ops', hotkeyName: 'miner1' });
    expect(loaded.ss58Address).toBe(hotkey.ss58Address);
  });

  it('names WALLET_PATH and the missing file, not a stack trace, when the wallet is absent', async () => {
    const failure = loadServiceHotkey({ walletPath: dir, walletName: 'nobody', hotkeyName: 'none' });
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(/WALLET_PATH: hotkey .*nobody\/hotkeys\/none/);
  });

  it('loads an ed25519 hotkey as ed25519, and refuses at start one whose address does not match its key, naming the file', async () => {
    const wallet = new Wallet({ path: dir, name: 'ed', hotkey: 'h' });
    const key = Keypair.generate(12, CRYPTO_ED25519);
    await wallet.writeHotkey(key);
    const loaded = await loadServiceHotkey({ walletPath: dir, walletName: 'ed', hotkeyName: 'h' });
    expect({ address: loaded.ss58Address, cryptoType: loaded.cryptoType }).toEqual({ address: key.ss58Address, cryptoType: CRYPTO_ED25519 });
    // The same file with its cryptoType lost would load as another (sr25519) identity: refused.
    const file = JSON.parse(readFileSync(wallet.hotkeyFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(wallet.hotkeyFile, JSON.stringify({ ...file, cryptoType: 1 }));
    const failure = loadServiceHotkey({ walletPath: dir, walletName: 'ed', hotkeyName: 'h' });
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(wallet.hotkeyFile);
    await expect(failure).rejects.toThrow(`states ss58Address ${key.ss58Address}`);
    await expect(failure).rejects.not.toThrow(String(file.secretPhrase));
  });

  it('names HOTKEY_URI without echoing the bad secret', async () => {
    const failure = loadServiceHotkey({ uri: 'not a valid secret phrase at all' });
    await expect(failure).rejects.toThrow(/HOTKEY_URI/);
    await expect(failure).rejects.not.toThrow(/not a valid secret phrase at all/);
  });
});
