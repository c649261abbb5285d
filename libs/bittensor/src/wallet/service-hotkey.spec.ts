import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@chattensor/common';
import { Keypair, initCrypto } from '../keys/keypair';
import { loadServiceHotkey } from './service-hotkey';
import { Wallet } from './wallet';

describe('loadServiceHotkey', () => {
  const dir = mkdtempSync(join(tmpdir(), 'service-hotkey-'));

  beforeAll(() => initCrypto());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a hotkey from a secret URI', async () => {
    expect((await loadServiceHotkey({ uri: '//Alice' })).ss58Address).toBe(Keypair.fromUri('//Alice').ss58Address);
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

  it('names HOTKEY_URI without echoing the bad secret', async () => {
    const failure = loadServiceHotkey({ uri: 'not a valid secret phrase at all' });
    await expect(failure).rejects.toThrow(/HOTKEY_URI/);
    await expect(failure).rejects.not.toThrow(/not a valid secret phrase at all/);
  });
});
