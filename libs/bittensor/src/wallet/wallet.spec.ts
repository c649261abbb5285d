import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keypair, initCrypto } from '../keys/keypair';
import { hotkeySourceFromEnv, loadHotkey, Wallet } from './wallet';

describe('Wallet', () => {
  let dir: string;

  beforeAll(async () => {
    await initCrypto();
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bt-wallet-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the SDK layout with owner-only files and reads the keys back', async () => {
    const wallet = new Wallet({ path: dir, name: 'w', hotkey: 'h' });
    const { coldkey, hotkey } = await wallet.create();
    expect(wallet.hotkeyFile).toBe(join(dir, 'w', 'hotkeys', 'h'));
    expect((await stat(wallet.hotkeyFile)).mode & 0o777).toBe(0o600);
    expect((await wallet.loadHotkey()).ss58Address).toBe(hotkey.ss58Address);
    expect((await wallet.loadColdkey()).ss58Address).toBe(coldkey.ss58Address);
    expect(await wallet.loadColdkeypub()).toEqual({ ss58Address: coldkey.ss58Address, publicKeyHex: coldkey.publicKeyHex });
    const pub = JSON.parse(await readFile(wallet.coldkeypubFile, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(pub).sort()).toEqual(['accountId', 'cryptoType', 'publicKey', 'ss58Address']);
  });

  it('refuses to overwrite a key unless told to', async () => {
    const wallet = new Wallet({ path: dir });
    await wallet.writeHotkey(Keypair.fromUri('//Alice'));
    await expect(wallet.writeHotkey(Keypair.fromUri('//Bob'))).rejects.toMatchObject({ code: 'exists' });
    await wallet.writeHotkey(Keypair.fromUri('//Bob'), { overwrite: true });
    expect((await wallet.loadHotkey()).ss58Address).toBe(Keypair.fromUri('//Bob').ss58Address);
  });

  it('reports an encrypted key as such when no password is given', async () => {
    const wallet = new Wallet({ path: dir, name: 'enc' });
    await mkdir(join(dir, 'enc'), { recursive: true });
    await writeFile(wallet.coldkeyFile, Buffer.concat([Buffer.from('$NACL'), Buffer.alloc(60, 1)]));
    expect(await wallet.isColdkeyEncrypted()).toBe(true);
    await expect(wallet.loadColdkey()).rejects.toMatchObject({ code: 'encrypted', message: expect.stringContaining('password') });
  });

  it('names formats only the Python SDK reads instead of guessing', async () => {
    const wallet = new Wallet({ path: dir, name: 'old' });
    await mkdir(join(dir, 'old'), { recursive: true });
    await writeFile(wallet.coldkeyFile, '$ANSIBLE_VAULT;1.1;AES256\n3132');
    await expect(wallet.loadColdkey('pw')).rejects.toMatchObject({ code: 'unsupported_encryption' });
  });

  it('reports a missing wallet with its path', async () => {
    await expect(new Wallet({ path: dir, name: 'none' }).loadHotkey()).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining(join(dir, 'none')) });
  });
});

describe('loadHotkey', () => {
  it('prefers a secret URI and otherwise reads the wallet folder', async () => {
    await initCrypto();
    const dir = await mkdtemp(join(tmpdir(), 'bt-wallet-'));
    try {
      await new Wallet({ path: dir, name: 'miner', hotkey: 'hk' }).writeHotkey(Keypair.fromUri('//Charlie'));
      const fromEnv = hotkeySourceFromEnv({ WALLET_PATH: dir, WALLET_NAME: 'miner', WALLET_HOTKEY: 'hk' });
      expect((await loadHotkey(fromEnv)).ss58Address).toBe(Keypair.fromUri('//Charlie').ss58Address);
      expect((await loadHotkey({ ...fromEnv, uri: '//Dave' })).ss58Address).toBe(Keypair.fromUri('//Dave').ss58Address);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
