import { mkdir, readFile, writeFile, chmod, access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CRYPTO_ED25519, CRYPTO_SR25519, Keypair, type CryptoType } from '../keys/keypair';
import { decryptKeyfileData, deserializeKeypair, encryptKeyfileData, keyfileEncryption, serializeKeypair, WalletError } from './keyfile';

/** The SDK's defaults: `~/.bittensor/wallets`, wallet `default`, hotkey `default`. */
export const DEFAULT_WALLET_PATH = '~/.bittensor/wallets';
export const DEFAULT_WALLET_NAME = 'default';
export const DEFAULT_HOTKEY_NAME = 'default';

export interface WalletLocation {
  path?: string;
  name?: string;
  hotkey?: string;
}

export interface PublicKeyInfo {
  ss58Address: string;
  publicKeyHex?: string;
  /** 0 ed25519, 1 sr25519, as the keyfile says (sr25519 when it says nothing). */
  cryptoType?: CryptoType;
}

export interface WriteKeyOptions {
  /** Encrypts the file with the SDK's NaCl format. */
  password?: string;
  overwrite?: boolean;
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A wallet folder in the Python SDK's layout:
 * `<path>/<name>/coldkey`, `coldkeypub.txt`, `hotkeys/<hotkey>`,
 * `hotkeys/<hotkey>pub.txt`, each a JSON keyfile (secret files optionally
 * NaCl-encrypted), written with mode 0600 as the SDK does.
 */
export class Wallet {
  readonly path: string;
  readonly name: string;
  readonly hotkeyName: string;

  constructor(location: WalletLocation = {}) {
    this.path = resolve(expandHome(location.path ?? DEFAULT_WALLET_PATH));
    this.name = location.name ?? DEFAULT_WALLET_NAME;
    this.hotkeyName = location.hotkey ?? DEFAULT_HOTKEY_NAME;
  }

  get coldkeyFile(): string {
    return join(this.path, this.name, 'coldkey');
  }

  get coldkeypubFile(): string {
    return join(this.path, this.name, 'coldkeypub.txt');
  }

  get hotkeyFile(): string {
    return join(this.path, this.name, 'hotkeys', this.hotkeyName);
  }

  get hotkeypubFile(): string {
    return join(this.path, this.name, 'hotkeys', `${this.hotkeyName}pub.txt`);
  }

  /** The hotkey; an encrypted one needs its password. */
  async loadHotkey(password?: string): Promise<Keypair> {
    return this.loadSecret(this.hotkeyFile, 'hotkey', password);
  }

  /** The coldkey; it is normally encrypted, so without a password this reports WalletError 'encrypted'. */
  async loadColdkey(password?: string): Promise<Keypair> {
    return this.loadSecret(this.coldkeyFile, 'coldkey', password);
  }

  async loadColdkeypub(): Promise<PublicKeyInfo> {
    return this.loadPublic(this.coldkeypubFile, 'coldkeypub');
  }

  async loadHotkeypub(): Promise<PublicKeyInfo> {
    return this.loadPublic(this.hotkeypubFile, 'hotkeypub');
  }

  async isColdkeyEncrypted(): Promise<boolean> {
    return keyfileEncryption(await this.read(this.coldkeyFile, 'coldkey')) !== 'none';
  }

  /** Writes the hotkey and its `pub.txt`, as `wallet.set_hotkey` does. */
  async writeHotkey(keypair: Keypair, options: WriteKeyOptions = {}): Promise<void> {
    await this.write(this.hotkeyFile, serializeKeypair(keypair), options);
    await this.write(this.hotkeypubFile, serializeKeypair(keypair, { publicOnly: true }), { overwrite: options.overwrite });
  }

  /** Writes the coldkey and `coldkeypub.txt`; pass a password, as btcli insists on for real funds. */
  async writeColdkey(keypair: Keypair, options: WriteKeyOptions = {}): Promise<void> {
    await this.write(this.coldkeyFile, serializeKeypair(keypair), options);
    await this.write(this.coldkeypubFile, serializeKeypair(keypair, { publicOnly: true }), { overwrite: options.overwrite });
  }

  /** A new coldkey and hotkey from fresh mnemonics (the SDK's `wallet.create`). */
  async create(options: { coldkeyPassword?: string; hotkeyPassword?: string; overwrite?: boolean } = {}): Promise<{ coldkey: Keypair; hotkey: Keypair }> {
    const coldkey = Keypair.generate();
    const hotkey = Keypair.generate();
    await this.writeColdkey(coldkey, { password: options.coldkeyPassword, overwrite: options.overwrite });
    await this.writeHotkey(hotkey, { password: options.hotkeyPassword, overwrite: options.overwrite });
    return { coldkey, hotkey };
  }

  toString(): string {
    return `Wallet(${this.name}, ${this.hotkeyName}, ${this.path})`;
  }

  private async read(file: string, label: string): Promise<Buffer> {
    try {
      return await readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new WalletError('not_found', `${label} file ${file} does not exist`);
      throw error;
    }
  }

  private async loadSecret(file: string, label: string, password?: string): Promise<Keypair> {
    let data: Uint8Array = await this.read(file, label);
    const encryption = keyfileEncryption(data);
    if (encryption !== 'none') {
      if (password === undefined) throw new WalletError('encrypted', `${label} ${file} is encrypted (${encryption}); a password is needed to load it`);
      data = await decryptKeyfileData(data, password, `${label} ${file}`);
    }
    const key = deserializeKeypair(data, `${label} ${file}`);
    if (!(key instanceof Keypair)) throw new WalletError('invalid_keyfile', `${label} ${file} holds only a public key`);
    return key;
  }

  private async loadPublic(file: string, label: string): Promise<PublicKeyInfo> {
    const data = await this.read(file, label);
    if (keyfileEncryption(data) !== 'none') throw new WalletError('invalid_keyfile', `${label} ${file} is encrypted, a public key file never is`);
    const key = deserializeKeypair(data, `${label} ${file}`);
    return key instanceof Keypair ? { ss58Address: key.ss58Address, publicKeyHex: key.publicKeyHex, cryptoType: key.cryptoType } : key;
  }

  private async write(file: string, data: Uint8Array, options: WriteKeyOptions): Promise<void> {
    if (!options.overwrite && (await exists(file))) throw new WalletError('exists', `${file} already exists; pass overwrite to replace it`);
    const content = options.password === undefined ? data : await encryptKeyfileData(data, options.password);
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(file, content, { mode: 0o600 });
    await chmod(file, 0o600);
  }
}

export interface HotkeySource {
  /** A secret URI (`//Alice`, a mnemonic, a 0x seed): development and tests. */
  uri?: string;
  /** The scheme of the `uri` key; sr25519 unless said. A wallet keyfile states its own. */
  cryptoType?: 'sr25519' | 'ed25519';
  walletPath?: string;
  walletName?: string;
  hotkeyName?: string;
  /** For an encrypted hotkey file. */
  password?: string;
}

/**
 * The hotkey a service signs with: from a secret URI when one is given
 * (HOTKEY_URI), else from the wallet folder (WALLET_PATH, WALLET_NAME,
 * WALLET_HOTKEY, with the SDK's defaults).
 */
export async function loadHotkey(source: HotkeySource): Promise<Keypair> {
  if (source.uri) return Keypair.fromUri(source.uri, source.cryptoType === 'ed25519' ? CRYPTO_ED25519 : CRYPTO_SR25519);
  return new Wallet({ path: source.walletPath, name: source.walletName, hotkey: source.hotkeyName }).loadHotkey(source.password);
}

/** Reads a HotkeySource from HOTKEY_URI or WALLET_PATH / WALLET_NAME / WALLET_HOTKEY (/ WALLET_HOTKEY_PASSWORD). */
export function hotkeySourceFromEnv(env: NodeJS.ProcessEnv = process.env): HotkeySource {
  const value = (name: string) => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  return {
    uri: value('HOTKEY_URI'),
    walletPath: value('WALLET_PATH'),
    walletName: value('WALLET_NAME'),
    hotkeyName: value('WALLET_HOTKEY'),
    password: value('WALLET_HOTKEY_PASSWORD'),
  };
}
