import { isHex } from '@polkadot/util';
import { naclDecrypt, naclEncrypt, randomAsU8a } from '@polkadot/util-crypto';
import { argon2i } from 'hash-wasm';
import { CRYPTO_SR25519, Keypair, isCryptoType, type CryptoType } from '../keys/keypair';

export type WalletErrorCode = 'not_found' | 'encrypted' | 'bad_password' | 'unsupported_encryption' | 'invalid_keyfile' | 'address_mismatch' | 'exists';

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
  cryptoType?: unknown;
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
    cryptoType: keypair.cryptoType,
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

/** The keyfile's `cryptoType` (0 ed25519, 1 sr25519; absent in old files, which are sr25519). */
function cryptoTypeOf(json: KeyfileJson, label: string): CryptoType {
  if (json.cryptoType === undefined || json.cryptoType === null) return CRYPTO_SR25519;
  if (isCryptoType(json.cryptoType)) return json.cryptoType;
  throw new WalletError('invalid_keyfile', `${label} has cryptoType ${JSON.stringify(json.cryptoType)}; only 0 (ed25519) and 1 (sr25519) are known`);
}

/**
 * The SDK's `deserialize_keypair_from_keyfile_data`: the phrase wins, then the
 * seed, then the private key, each under the file's `cryptoType`. A file with
 * only an address is a public key and is returned as such. A file whose key
 * derives to another address than the `ss58Address` it states is refused:
 * loading it would sign as someone else than the file claims.
 */
export function deserializeKeypair(data: Uint8Array, label = 'keyfile'): Keypair | { ss58Address: string; publicKeyHex?: string; cryptoType?: CryptoType } {
  let json: KeyfileJson;
  try {
    json = JSON.parse(Buffer.from(data).toString('utf8')) as KeyfileJson;
  } catch {
    throw new WalletError('invalid_keyfile', `${label} is not keyfile JSON (is it encrypted in an unknown format?)`);
  }
  if (typeof json !== 'object' || json === null) throw new WalletError('invalid_keyfile', `${label} is not a keyfile JSON object`);
  const cryptoType = cryptoTypeOf(json, label);
  let keypair: Keypair | undefined;
  try {
    if (json.secretPhrase) keypair = Keypair.fromMnemonic(json.secretPhrase, cryptoType);
    else if (json.secretSeed) keypair = Keypair.fromSeed(json.secretSeed.length === 64 && !json.secretSeed.startsWith('0x') ? `0x${json.secretSeed}` : json.secretSeed, cryptoType);
    else if (json.privateKey && json.publicKey && isHex(json.privateKey)) keypair = Keypair.fromPrivateKey(json.privateKey, json.publicKey, cryptoType);
  } catch (error) {
    throw new WalletError('invalid_keyfile', `${label} holds an unusable key: ${(error as Error).message}`);
  }
  if (keypair) {
    if (json.ss58Address !== undefined && json.ss58Address !== keypair.ss58Address) {
      throw new WalletError(
        'address_mismatch',
        `${label} states ss58Address ${String(json.ss58Address)} but its ${keypair.scheme} key (cryptoType ${cryptoType}) is ${keypair.ss58Address}; refusing to sign as a different identity (is cryptoType right?)`,
      );
    }
    return keypair;
  }
  if (json.ss58Address) return { ss58Address: json.ss58Address, publicKeyHex: json.publicKey, cryptoType };
  throw new WalletError('invalid_keyfile', `${label} holds no key`);
}
