import { inspect } from 'node:util';
import { DEV_PHRASE } from '@polkadot/keyring';
import { u8aToHex, stringToU8a, isHex, hexToU8a, u8aWrapBytes } from '@polkadot/util';
import { isReady as wasmReady, sr25519Sign as wasmSign, sr25519Verify as wasmVerify } from '@polkadot/wasm-crypto';
import {
  cryptoWaitReady,
  decodeAddress,
  ed25519PairFromSeed,
  ed25519Sign,
  ed25519Verify,
  encodeAddress,
  keyExtractSuri,
  keyFromPath,
  mnemonicGenerate,
  mnemonicToMiniSecret,
  mnemonicValidate,
  sr25519PairFromSeed,
  sr25519Sign,
  sr25519Verify,
} from '@polkadot/util-crypto';

/** SS58 prefix of the Bittensor networks (the generic Substrate one). */
export const BITTENSOR_SS58_FORMAT = 42;

/** The SDK's crypto types (`cryptoType` in a keyfile): ed25519 is 0, sr25519 is 1. */
export const CRYPTO_ED25519 = 0;
export const CRYPTO_SR25519 = 1;
export type CryptoType = typeof CRYPTO_ED25519 | typeof CRYPTO_SR25519;
/** The scheme names the SDK uses (`CRYPTO_TYPE_NAMES`), e.g. in the `X-Bittensor-Crypto` header. */
export const CRYPTO_TYPE_NAMES: Record<CryptoType, 'ed25519' | 'sr25519'> = { 0: 'ed25519', 1: 'sr25519' };

export function isCryptoType(value: unknown): value is CryptoType {
  return value === CRYPTO_ED25519 || value === CRYPTO_SR25519;
}

let ready: Promise<boolean> | undefined;

/**
 * Loads the sr25519 WASM once; call before creating or verifying keys.
 * util-crypto's own sr25519 is pure JavaScript and several times slower, so
 * signing and verification go to the WASM build whenever it is loaded.
 */
export function initCrypto(): Promise<boolean> {
  ready ??= cryptoWaitReady();
  return ready;
}

/**
 * polkadot-js holds an sr25519 secret as schnorrkel's "ed25519 bytes" (the
 * scalar multiplied by the cofactor 8, then the nonce); the Python SDK's
 * keyfiles store `SecretKey::to_bytes()` (the plain scalar, then the nonce).
 * These convert the first 32 bytes between the two, as schnorrkel does.
 */
function scalarBytes(bytes: Uint8Array, op: (scalar: bigint) => bigint): Uint8Array {
  let scalar = 0n;
  for (let i = 31; i >= 0; i--) scalar = (scalar << 8n) | BigInt(bytes[i]);
  scalar = op(scalar) & ((1n << 256n) - 1n);
  const out = bytes.slice();
  for (let i = 0; i < 32; i++) {
    out[i] = Number(scalar & 0xffn);
    scalar >>= 8n;
  }
  return out;
}

function toSdkPrivateKey(secretKey: Uint8Array): Uint8Array {
  return scalarBytes(secretKey, (s) => s >> 3n);
}

function fromSdkPrivateKey(privateKey: Uint8Array): Uint8Array {
  return scalarBytes(privateKey, (s) => s << 3n);
}

interface Secrets {
  /** sr25519: the secret key as polkadot-js holds it (ed25519-style bytes); ed25519: seed ‖ public key. */
  secretKey: Uint8Array;
  /** The 32-byte mini-secret (`secretSeed`), when the key is not a derivation. */
  seed?: Uint8Array;
  /** The BIP-39 phrase (`secretPhrase`), when the key is not a derivation. */
  mnemonic?: string;
}

/** The secret parts of a key as the SDK's keyfile stores them; handle with care, never log. */
export interface KeypairSecrets {
  privateKey: string;
  secretSeed?: string;
  secretPhrase?: string;
}

function pairFromSeed(seed: Uint8Array, cryptoType: CryptoType): { publicKey: Uint8Array; secretKey: Uint8Array } {
  return cryptoType === CRYPTO_ED25519 ? ed25519PairFromSeed(seed) : sr25519PairFromSeed(seed);
}

/**
 * An sr25519 or ed25519 hotkey or coldkey (`cryptoType`, as the SDK's
 * keyfiles say; sr25519 by default). The secret lives in a private field: it
 * is not part of the object's string, JSON or inspected form, and only
 * `exportSecrets()` (used to write a keyfile) hands it out.
 */
export class Keypair {
  readonly #secrets: Secrets;
  readonly #publicKey: Uint8Array;
  readonly #address: string;
  readonly cryptoType: CryptoType;

  private constructor(publicKey: Uint8Array, secrets: Secrets, cryptoType: CryptoType = CRYPTO_SR25519) {
    this.#publicKey = publicKey;
    this.#secrets = secrets;
    this.#address = encodeAddress(publicKey, BITTENSOR_SS58_FORMAT);
    this.cryptoType = cryptoType;
  }

  /** `sr25519` or `ed25519`. */
  get scheme(): 'ed25519' | 'sr25519' {
    return CRYPTO_TYPE_NAMES[this.cryptoType];
  }

  /**
   * From a secret URI: a mnemonic, a 0x seed, or a dev derivation such as
   * `//Alice`, with optional `//hard/soft` paths and `///password`, exactly
   * as Substrate (and the SDK's `create_from_uri`) read them. ed25519 keys
   * take hard derivations only, as in Substrate.
   */
  static fromUri(uri: string, cryptoType: CryptoType = CRYPTO_SR25519): Keypair {
    const full = uri.startsWith('//') ? `${DEV_PHRASE}${uri}` : uri;
    const { phrase, path, password } = keyExtractSuri(full);
    let seed: Uint8Array;
    let mnemonic: string | undefined;
    if (isHex(phrase, 256)) {
      seed = hexToU8a(phrase);
    } else {
      const words = phrase.trim().split(/\s+/).join(' ');
      if (!mnemonicValidate(words)) throw new Error('secret URI is neither a valid mnemonic nor a 32-byte hex seed');
      seed = mnemonicToMiniSecret(words, password ?? '');
      mnemonic = words;
    }
    const base = pairFromSeed(seed, cryptoType);
    if (path.length === 0) {
      return new Keypair(base.publicKey, { secretKey: base.secretKey, seed, mnemonic: password ? undefined : mnemonic }, cryptoType);
    }
    if (cryptoType === CRYPTO_ED25519 && path.some((junction) => !junction.isHard)) throw new Error('ed25519 keys take hard derivations (//) only');
    const derived = keyFromPath(base, path, CRYPTO_TYPE_NAMES[cryptoType]);
    return new Keypair(derived.publicKey, { secretKey: derived.secretKey }, cryptoType);
  }

  static fromMnemonic(mnemonic: string, cryptoType: CryptoType = CRYPTO_SR25519): Keypair {
    const words = mnemonic.trim().split(/\s+/).join(' ');
    if (!mnemonicValidate(words)) throw new Error('not a valid BIP-39 mnemonic');
    return Keypair.fromUri(words, cryptoType);
  }

  /** From a 32-byte mini-secret seed, hex. */
  static fromSeed(seedHex: string, cryptoType: CryptoType = CRYPTO_SR25519): Keypair {
    if (!isHex(seedHex) || hexToU8a(seedHex).length !== 32) throw new Error('seed must be 32 bytes of 0x-prefixed hex');
    const seed = hexToU8a(seedHex);
    const pair = pairFromSeed(seed, cryptoType);
    return new Keypair(pair.publicKey, { secretKey: pair.secretKey, seed }, cryptoType);
  }

  /**
   * From an SDK keyfile's `privateKey` with its public key: for sr25519 the
   * 64-byte secret key (scalar ‖ nonce), for ed25519 the 32-byte seed (or
   * seed ‖ public key).
   */
  static fromPrivateKey(privateKeyHex: string, publicKeyHex: string, cryptoType: CryptoType = CRYPTO_SR25519): Keypair {
    if (!isHex(publicKeyHex) || hexToU8a(publicKeyHex).length !== 32) throw new Error('public key must be 32 bytes of 0x-prefixed hex');
    if (cryptoType === CRYPTO_ED25519) {
      const bytes = isHex(privateKeyHex) ? hexToU8a(privateKeyHex) : new Uint8Array();
      if (bytes.length !== 32 && bytes.length !== 64) throw new Error('ed25519 private key must be 32 (or 64) bytes of 0x-prefixed hex');
      const derived = ed25519PairFromSeed(bytes.subarray(0, 32));
      if (u8aToHex(derived.publicKey) !== u8aToHex(hexToU8a(publicKeyHex))) throw new Error('private key does not belong to the public key');
      return new Keypair(derived.publicKey, { secretKey: derived.secretKey, seed: bytes.slice(0, 32) }, CRYPTO_ED25519);
    }
    if (!isHex(privateKeyHex) || hexToU8a(privateKeyHex).length !== 64) throw new Error('private key must be 64 bytes of 0x-prefixed hex');
    const pair = new Keypair(hexToU8a(publicKeyHex), { secretKey: fromSdkPrivateKey(hexToU8a(privateKeyHex)) });
    // A mismatched public key would sign with one key and claim another.
    const probe = stringToU8a('chattensor keypair check');
    if (!verifySignature(probe, pair.sign(probe), pair.ss58Address, cryptoType)) throw new Error('private key does not belong to the public key');
    return pair;
  }

  /** A fresh key from a new mnemonic of 12, 15, 18, 21 or 24 words. */
  static generate(words: 12 | 15 | 18 | 21 | 24 = 12, cryptoType: CryptoType = CRYPTO_SR25519): Keypair {
    return Keypair.fromMnemonic(mnemonicGenerate(words), cryptoType);
  }

  get ss58Address(): string {
    return this.#address;
  }

  get publicKey(): Uint8Array {
    return this.#publicKey.slice();
  }

  get publicKeyHex(): string {
    return u8aToHex(this.#publicKey);
  }

  /** Signs the UTF-8 bytes of `message` (or raw bytes); returns 0x-hex like the Python SDK. */
  sign(message: string | Uint8Array): string {
    const bytes = typeof message === 'string' ? stringToU8a(message) : message;
    const { secretKey } = this.#secrets;
    if (this.cryptoType === CRYPTO_ED25519) return u8aToHex(ed25519Sign(bytes, { publicKey: this.#publicKey, secretKey }));
    return u8aToHex(wasmReady() ? wasmSign(this.#publicKey, secretKey, bytes) : sr25519Sign(bytes, { publicKey: this.#publicKey, secretKey }));
  }

  /** The secret material, for writing a keyfile. */
  exportSecrets(): KeypairSecrets {
    const { secretKey, seed, mnemonic } = this.#secrets;
    return {
      // The SDK's ed25519 keyfiles hold the 32-byte seed as the private key.
      privateKey: u8aToHex(this.cryptoType === CRYPTO_ED25519 ? secretKey.slice(0, 32) : toSdkPrivateKey(secretKey)),
      ...(seed ? { secretSeed: u8aToHex(seed) } : {}),
      ...(mnemonic ? { secretPhrase: mnemonic } : {}),
    };
  }

  toString(): string {
    return this.cryptoType === CRYPTO_ED25519 ? `Keypair(${this.ss58Address}, ed25519)` : `Keypair(${this.ss58Address})`;
  }

  toJSON(): { ss58Address: string; cryptoType: CryptoType } {
    return { ss58Address: this.ss58Address, cryptoType: this.cryptoType };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * Verifies an sr25519 (default) or ed25519 signature over the UTF-8 message,
 * under that scheme only, also accepting one over `<Bytes>message</Bytes>`
 * (what wallet extensions sign) as the SDK's `verify` does; never throws on
 * malformed input.
 */
export function verifySignature(message: string | Uint8Array, signature: string | Uint8Array, ss58Address: string, cryptoType: CryptoType = CRYPTO_SR25519): boolean {
  try {
    const sig = typeof signature === 'string' ? (isHex(signature, 512) ? hexToU8a(signature) : undefined) : signature;
    if (!sig || sig.length !== 64) return false;
    const publicKey = decodeAddress(ss58Address);
    const bytes = typeof message === 'string' ? stringToU8a(message) : message;
    const verify = (m: Uint8Array) => {
      if (cryptoType === CRYPTO_ED25519) return ed25519Verify(m, sig, publicKey);
      return wasmReady() ? wasmVerify(sig, m, publicKey) : sr25519Verify(m, sig, publicKey);
    };
    return verify(bytes) || verify(u8aWrapBytes(bytes));
  } catch {
    return false;
  }
}

export function isValidSs58(address: string, ss58Format = BITTENSOR_SS58_FORMAT): boolean {
  try {
    const publicKey = decodeAddress(address, false, ss58Format);
    return encodeAddress(publicKey, ss58Format) === address;
  } catch {
    return false;
  }
}

export function ss58FromPublicKey(publicKey: Uint8Array | string, ss58Format = BITTENSOR_SS58_FORMAT): string {
  return encodeAddress(publicKey, ss58Format);
}

export function publicKeyOf(ss58Address: string): Uint8Array {
  return decodeAddress(ss58Address);
}
