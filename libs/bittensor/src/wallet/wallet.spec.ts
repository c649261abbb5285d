import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CRYPTO_ED25519, Keypair, initCrypto } from '../keys/keypair';
import { deserializeKeypair, serializeKeypair } from './keyfile';
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
    expect(await wallet.loadColdkeypub()).toEqual({ ss58Address: coldkey.ss58Address, publicKeyHex: coldkey.publicKeyHex, cryptoType: 1 });
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

describe('ed25519 and mismatched keyfiles', () => {
  beforeAll(async () => {
    await initCrypto();
  });

  const mnemonic = 'legal winner thank year wave sausage worth useful legal winner thank yellow';

  it('loads an SDK ed25519 keyfile as the ed25519 key it is, from the phrase, the seed or the private key', () => {
    // Written by bittensor 11.3.0 (bittensor_core) for this mnemonic with crypto type 0.
    const sdkFile = {
      cryptoType: 0,
      accountId: '0x7b4344ead732d6beeeded95d39e330ef0c16ae806046b296737dababb8a0b80d',
      secretPhrase: mnemonic,
      secretSeed: '0x6fa2796b0071cac425d8a7851038318c2c37dcebfe4bae73197ce93e75909bd2',
      ss58Address: '5ErKjJLUyc8TTU2vNKrj5UciogZho2MDawb6nN2KG44aU1aB',
      publicKey: '0x7b4344ead732d6beeeded95d39e330ef0c16ae806046b296737dababb8a0b80d',
      privateKey: '0x6fa2796b0071cac425d8a7851038318c2c37dcebfe4bae73197ce93e75909bd2',
    };
    const variants = [sdkFile, { ...sdkFile, secretPhrase: undefined }, { ...sdkFile, secretPhrase: undefined, secretSeed: undefined }];
    for (const variant of variants) {
      const key = deserializeKeypair(Buffer.from(JSON.stringify(variant)), 'hotkey');
      expect(key).toBeInstanceOf(Keypair);
      expect((key as Keypair).ss58Address).toBe(sdkFile.ss58Address);
      expect((key as Keypair).cryptoType).toBe(CRYPTO_ED25519);
    }
    const written = JSON.parse(Buffer.from(serializeKeypair(Keypair.fromMnemonic(mnemonic, CRYPTO_ED25519))).toString()) as Record<string, unknown>;
    expect(written).toMatchObject({ cryptoType: 0, privateKey: sdkFile.privateKey, ss58Address: sdkFile.ss58Address });
  });

  it('refuses, naming the file, a keyfile whose key derives to another address than it states', () => {
    const sr = JSON.parse(Buffer.from(serializeKeypair(Keypair.fromMnemonic(mnemonic))).toString()) as Record<string, unknown>;
    // The ed25519 key's file with its cryptoType lost: read as sr25519 it would be someone else.
    const wrongType = { ...sr, cryptoType: 1, ss58Address: '5ErKjJLUyc8TTU2vNKrj5UciogZho2MDawb6nN2KG44aU1aB' };
    expect(() => deserializeKeypair(Buffer.from(JSON.stringify(wrongType)), 'hotkey /w/default/hotkeys/h')).toThrow(
      expect.objectContaining({ code: 'address_mismatch', message: expect.stringContaining('hotkey /w/default/hotkeys/h states ss58Address 5ErKjJLU') }),
    );
    expect(() => deserializeKeypair(Buffer.from(JSON.stringify({ ...sr, cryptoType: 7 })), 'hotkey f')).toThrow(/cryptoType 7/);
  });
});
