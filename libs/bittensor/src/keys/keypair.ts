import { inspect } from 'node:util';
import { DEV_PHRASE } from '@polkadot/keyring';
import { u8aToHex, stringToU8a, isHex, hexToU8a, u8aWrapBytes } from '@polkadot/util';
import { isReady as wasmReady, sr25519Sign as wasmSign, sr25519Verify as wasmVerify } from '@polkadot/wasm-crypto';
import {
  cryptoWaitReady,
  decodeAddress,
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
  /** sr25519 secret key as polkadot-js holds it (ed25519-style bytes). */
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

/**
 * An sr25519 hotkey or coldkey. The secret lives in a private field: it is
 * not part of the object's string, JSON or inspected form, and only
 * `exportSecrets()` (used to write a keyfile) hands it out.
 */
export class Keypair {
  readonly #secrets: Secrets;
  readonly #publicKey: Uint8Array;
  readonly #address: string;

  private constructor(publicKey: Uint8Array, secrets: Secrets) {
    this.#publicKey = publicKey;
    this.#secrets = secrets;
    this.#address = encodeAddress(publicKey, BITTENSOR_SS58_FORMAT);
  }

  /**
   * From a secret URI: a mnemonic, a 0x seed, or a dev derivation such as
   * `//Alice`, with optional `//hard/soft` paths and `///password`, exactly
   * as Substrate (and the SDK's `create_from_uri`) read them.
   */
  static fromUri(uri: string): Keypair {
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
    const base = sr25519PairFromSeed(seed);
    if (path.length === 0) {
      return new Keypair(base.publicKey, { secretKey: base.secretKey, seed, mnemonic: password ? undefined : mnemonic });
    }
    const derived = keyFromPath(base, path, 'sr25519');
    return new Keypair(derived.publicKey, { secretKey: derived.secretKey });
  }

  static fromMnemonic(mnemonic: string): Keypair {
    const words = mnemonic.trim().split(/\s+/).join(' ');
    if (!mnemonicValidate(words)) throw new Error('not a valid BIP-39 mnemonic');
    return Keypair.fromUri(words);
  }

  /** From a 32-byte mini-secret seed, hex. */
  static fromSeed(seedHex: string): Keypair {
    if (!isHex(seedHex) || hexToU8a(seedHex).length !== 32) throw new Error('seed must be 32 bytes of 0x-prefixed hex');
    const seed = hexToU8a(seedHex);
    const pair = sr25519PairFromSeed(seed);
    return new Keypair(pair.publicKey, { secretKey: pair.secretKey, seed });
  }

  /** From the 64-byte sr25519 secret key of an SDK keyfile's `privateKey` (scalar ‖ nonce), with its public key. */
  static fromPrivateKey(privateKeyHex: string, publicKeyHex: string): Keypair {
    if (!isHex(privateKeyHex) || hexToU8a(privateKeyHex).length !== 64) throw new Error('private key must be 64 bytes of 0x-prefixed hex');
    if (!isHex(publicKeyHex) || hexToU8a(publicKeyHex).length !== 32) throw new Error('public key must be 32 bytes of 0x-prefixed hex');
    const pair = new Keypair(hexToU8a(publicKeyHex), { secretKey: fromSdkPrivateKey(hexToU8a(privateKeyHex)) });
    // A mismatched public key would sign with one key and claim another.
    const probe = stringToU8a('chattensor keypair check');
    if (!verifySignature(probe, pair.sign(probe), pair.ss58Address)) throw new Error('private key does not belong to the public key');
    return pair;
  }

  /** A fresh key from a new mnemonic of 12, 15, 18, 21 or 24 words. */
  static generate(words: 12 | 15 | 18 | 21 | 24 = 12): Keypair {
    return Keypair.fromMnemonic(mnemonicGenerate(words));
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
    return u8aToHex(wasmReady() ? wasmSign(this.#publicKey, secretKey, bytes) : sr25519Sign(bytes, { publicKey: this.#publicKey, secretKey }));
  }

  /** The secret material, for writing a keyfile. */
  exportSecrets(): KeypairSecrets {
    const { secretKey, seed, mnemonic } = this.#secrets;
    return {
      privateKey: u8aToHex(toSdkPrivateKey(secretKey)),
      ...(seed ? { secretSeed: u8aToHex(seed) } : {}),
      ...(mnemonic ? { secretPhrase: mnemonic } : {}),
    };
  }

  toString(): string {
    return `Keypair(${this.ss58Address})`;
  }

  toJSON(): { ss58Address: string } {
    return { ss58Address: this.ss58Address };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * Verifies an sr25519 signature over the UTF-8 message, also accepting one
 * over `<Bytes>message</Bytes>` (what wallet extensions sign) as the SDK's
 * `Keypair.verify` does; never throws on malformed input.
 */
export function verifySignature(message: string | Uint8Array, signature: string, ss58Address: string): boolean {
  try {
    if (!isHex(signature, 512)) return false;
    const publicKey = decodeAddress(ss58Address);
    const sig = hexToU8a(signature);
    const bytes = typeof message === 'string' ? stringToU8a(message) : message;
    const verify = (m: Uint8Array) => (wasmReady() ? wasmVerify(sig, m, publicKey) : sr25519Verify(m, sig, publicKey));
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
