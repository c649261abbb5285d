import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keypair, Wallet, WalletError, initCrypto, loadHotkey, serializeKeypair, verifySignature } from '@chattensor/bittensor';
import { PythonOracle } from './support/python';

interface PyWallet {
  hotkey: string;
  coldkeypub: string;
  coldkey?: string;
  hotkey_signature?: string;
  coldkey_signature?: string;
}

let py: PythonOracle;
let dir: string;

beforeAll(async () => {
  await initCrypto();
  py = new PythonOracle();
  dir = await mkdtemp(join(tmpdir(), 'chattensor-wallets-'));
});

afterAll(async () => {
  await py.close();
  await rm(dir, { recursive: true, force: true });
});

const message = 'chattensor wallet interop ✓';

function keyfileFields(data: Uint8Array | string) {
  const json = JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>;
  const { accountId, publicKey, privateKey, secretSeed, secretPhrase, ss58Address } = json;
  return { accountId, publicKey, privateKey, secretSeed, secretPhrase, ss58Address };
}

describe('wallets created by the Python SDK', () => {
  it('load in ChatTensor with the same keys, file fields and signatures', async () => {
    const created = await py.call<PyWallet>('create_wallet', { path: dir, name: 'pywallet', hotkey: 'miner1' });
    const wallet = new Wallet({ path: dir, name: 'pywallet', hotkey: 'miner1' });

    const hotkey = await wallet.loadHotkey();
    expect(hotkey.ss58Address).toBe(created.hotkey);
    expect((await wallet.loadColdkeypub()).ss58Address).toBe(created.coldkeypub);
    expect((await wallet.loadColdkey()).ss58Address).toBe(created.coldkeypub);
    expect((await loadHotkey({ walletPath: dir, walletName: 'pywallet', hotkeyName: 'miner1' })).ss58Address).toBe(created.hotkey);
    // Rewriting the key gives the same secret fields the SDK wrote.
    expect(keyfileFields(serializeKeypair(hotkey))).toEqual(keyfileFields(await readFile(wallet.hotkeyFile)));

    const theirs = await py.call<PyWallet>('load_wallet', { path: dir, name: 'pywallet', hotkey: 'miner1', message });
    expect(verifySignature(message, theirs.hotkey_signature!, hotkey.ss58Address)).toBe(true);
    await expect(py.call('verify', { ss58: created.hotkey, message, signature: hotkey.sign(message) })).resolves.toBe(true);
  });

  it('report an encrypted coldkey clearly and decrypt it with the password', async () => {
    const created = await py.call<PyWallet>('create_wallet', { path: dir, name: 'locked', hotkey: 'default', coldkey_password: 'correct horse 42' });
    const wallet = new Wallet({ path: dir, name: 'locked' });
    expect(await wallet.isColdkeyEncrypted()).toBe(true);
    await expect(wallet.loadColdkey()).rejects.toMatchObject({ code: 'encrypted' });
    await expect(wallet.loadColdkey('wrong password')).rejects.toMatchObject({ code: 'bad_password' });
    const coldkey = await wallet.loadColdkey('correct horse 42');
    expect(coldkey.ss58Address).toBe(created.coldkeypub);
    expect((await wallet.loadHotkey()).ss58Address).toBe(created.hotkey);
  });
});

describe('wallets written by ChatTensor', () => {
  it('load in the Python SDK, encrypted coldkey included, and sign as the same keys', async () => {
    const wallet = new Wallet({ path: dir, name: 'ours', hotkey: 'validator' });
    const { coldkey, hotkey } = await wallet.create({ coldkeyPassword: 'sw0rdfish!' });
    await expect(wallet.writeHotkey(Keypair.generate())).rejects.toBeInstanceOf(WalletError);

    const theirs = await py.call<PyWallet>('load_wallet', { path: dir, name: 'ours', hotkey: 'validator', coldkey_password: 'sw0rdfish!', message });
    expect(theirs).toMatchObject({ hotkey: hotkey.ss58Address, coldkeypub: coldkey.ss58Address, coldkey: coldkey.ss58Address });
    expect(verifySignature(message, theirs.hotkey_signature!, hotkey.ss58Address)).toBe(true);
    expect(verifySignature(message, theirs.coldkey_signature!, coldkey.ss58Address)).toBe(true);
  });

  it('writes keys from dev URIs (no phrase, no seed) that the SDK loads', async () => {
    const wallet = new Wallet({ path: dir, name: 'dev', hotkey: 'alice' });
    await wallet.writeColdkey(Keypair.fromUri('//Bob'));
    await wallet.writeHotkey(Keypair.fromUri('//Alice'));
    const theirs = await py.call<PyWallet>('load_wallet', { path: dir, name: 'dev', hotkey: 'alice', message });
    expect(theirs.hotkey).toBe(Keypair.fromUri('//Alice').ss58Address);
    expect(verifySignature(message, theirs.hotkey_signature!, theirs.hotkey)).toBe(true);
  });
});
