import { isHex } from '@polkadot/util';
import { naclDecrypt, naclEncrypt, randomAsU8a } from '@polkadot/util-crypto';
import { argon2i } from 'hash-wasm';
import { Keypair } from '../keys/keypair';

export type WalletErrorCode = 'not_found' | 'encrypted' | 'bad_password' | 'unsupported_encryption' | 'invalid_keyfile' | 'exists';

/** A wallet or keyfile problem. Messages name files, never secrets. */
export class WalletError extends Error {
  constructor(
    readonly code: WalletErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WalletError';
  }
}

const NACL_PREFIX = Buffer.from('$NACL', 'latin1');
/** The fixed salt of the SDK's NaCl keyfiles (bittensor-wallet's NACL_SALT). */
const NACL_SALT = Uint8Array.from([0x13, 0x71, 0x83, 0xdf, 0xf1, 0x5a, 0x09, 0xbc, 0x9c, 0x90, 0xb5, 0x51, 0x87, 0x39, 0xe9, 0xb1]);
/** libsodium's crypto_pwhash_argon2i OPSLIMIT_SENSITIVE and MEMLIMIT_SENSITIVE (512 MiB). */
const ARGON2I_OPSLIMIT_SENSITIVE = 8;
const ARGON2I_MEMLIMIT_SENSITIVE_KIB = 512 * 1024;
const NONCE_BYTES = 24;

export type KeyfileEncryption = 'NaCl' | 'Ansible Vault' | 'legacy' | 'none';

/** The SDK's `keyfile_data_encryption_method`, with 'none' for plain JSON. */
export function keyfileEncryption(data: Uint8Array): KeyfileEncryption {
  const head = Buffer.from(data.subarray(0, 14)).toString('latin1');
  if (head.startsWith('$NACL')) return 'NaCl';
  if (head.startsWith('$ANSIBLE_VAULT')) return 'Ansible Vault';
  if (head.startsWith('gAAAAA')) return 'legacy';
  return 'none';
}

async function deriveKey(password: string): Promise<Uint8Array> {
  // libsodium's crypto_pwhash(ALG_ARGON2I13): Argon2i v1.3, one lane, the memory limit in KiB.
  return argon2i({
    password,
    salt: NACL_SALT,
    iterations: ARGON2I_OPSLIMIT_SENSITIVE,
    memorySize: ARGON2I_MEMLIMIT_SENSITIVE_KIB,
    parallelism: 1,
    hashLength: 32,
    outputType: 'binary',
  });
}

/** The SDK's `encrypt_keyfile_data`: `$NACL` ‖ nonce ‖ secretbox, keyed by Argon2i of the password. */
export async function encryptKeyfileData(data: Uint8Array, password: string): Promise<Uint8Array> {
  const key = await deriveKey(password);
  const nonce = randomAsU8a(NONCE_BYTES);
  const { encrypted } = naclEncrypt(data, key, nonce);
  return Buffer.concat([NACL_PREFIX, nonce, encrypted]);
}

/** The SDK's `decrypt_keyfile_data` for the NaCl format; other formats are reported, not guessed. */
export async function decryptKeyfileData(data: Uint8Array, password: string, label = 'keyfile'): Promise<Uint8Array> {
  const method = keyfileEncryption(data);
  if (method === 'none') return data;
  if (method !== 'NaCl') {
    throw new WalletError('unsupported_encryption', `${label} uses ${method} encryption, which only the Python SDK reads; re-encrypt it with a current btcli`);
  }
  const body = data.subarray(NACL_PREFIX.length);
  if (body.length < NONCE_BYTES + 16) throw new WalletError('invalid_keyfile', `${label} is truncated`);
  const key = await deriveKey(password);
  const plain = naclDecrypt(body.subarray(NONCE_BYTES), body.subarray(0, NONCE_BYTES), key);
  if (!plain) throw new WalletError('bad_password', `wrong password for ${label}`);
  return plain;
}

interface KeyfileJson {
  accountId?: string;
  publicKey?: string;
  privateKey?: string;
  secretPhrase?: string;
  secretSeed?: string;
  ss58Address?: string;
}

/** The SDK's `serialized_keypair_to_keyfile_data`: the JSON a hotkey or coldkey file holds. */
export function serializeKeypair(keypair: Keypair, options: { publicOnly?: boolean } = {}): Uint8Array {
  const data: Record<string, unknown> = {
    accountId: keypair.publicKeyHex,
    publicKey: keypair.publicKeyHex,
    cryptoType: 1,
    ss58Address: keypair.ss58Address,
  };
  if (!options.publicOnly) {
    const secrets = keypair.exportSecrets();
    data.privateKey = secrets.privateKey;
    if (secrets.secretSeed) data.secretSeed = secrets.secretSeed;
    if (secrets.secretPhrase) data.secretPhrase = secrets.secretPhrase;
  }
  return Buffer.from(JSON.stringify(data), 'utf8');
}

/**
 * The SDK's `deserialize_keypair_from_keyfile_data`: the phrase wins, then the
 * seed, then the private key. A file with only an address is a public key
 * and is returned as such.
 */
export function deserializeKeypair(data: Uint8Array, label = 'keyfile'): Keypair | { ss58Address: string; publicKeyHex?: string } {
  let json: KeyfileJson;
  try {
    json = JSON.parse(Buffer.from(data).toString('utf8')) as KeyfileJson;
  } catch {
    throw new WalletError('invalid_keyfile', `${label} is not keyfile JSON (is it encrypted in an unknown format?)`);
  }
  try {
    if (json.secretPhrase) return Keypair.fromMnemonic(json.secretPhrase);
    if (json.secretSeed) return Keypair.fromSeed(json.secretSeed.length === 64 && !json.secretSeed.startsWith('0x') ? `0x${json.secretSeed}` : json.secretSeed);
    if (json.privateKey && json.publicKey && isHex(json.privateKey)) return Keypair.fromPrivateKey(json.privateKey, json.publicKey);
  } catch (error) {
    throw new WalletError('invalid_keyfile', `${label} holds an unusable key: ${(error as Error).message}`);
  }
  if (json.ss58Address) return { ss58Address: json.ss58Address, publicKeyHex: json.publicKey };
  throw new WalletError('invalid_keyfile', `${label} holds no key`);
}
