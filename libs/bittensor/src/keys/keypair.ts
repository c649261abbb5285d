import { Keyring } from '@polkadot/keyring';
import type { KeyringPair } from '@polkadot/keyring/types';
import { u8aToHex, stringToU8a, isHex, hexToU8a } from '@polkadot/util';
import { cryptoWaitReady, signatureVerify, decodeAddress, encodeAddress } from '@polkadot/util-crypto';

/** SS58 prefix of the Bittensor networks (the generic Substrate one). */
export const BITTENSOR_SS58_FORMAT = 42;

let ready: Promise<boolean> | undefined;

/** Loads the sr25519 WASM once; call before creating or verifying keys. */
export function initCrypto(): Promise<boolean> {
  ready ??= cryptoWaitReady();
  return ready;
}

/**
 * An sr25519 hotkey or coldkey. The secret never leaves this object and is
 * never part of its string or JSON form.
 */
export class Keypair {
  private constructor(private readonly pair: KeyringPair) {}

  /** From a secret URI: a mnemonic, a 0x seed, or a dev derivation such as `//Alice`, with optional `//hard/soft` paths. */
  static fromUri(uri: string): Keypair {
    const keyring = new Keyring({ type: 'sr25519', ss58Format: BITTENSOR_SS58_FORMAT });
    return new Keypair(keyring.addFromUri(uri));
  }

  static fromMnemonic(mnemonic: string): Keypair {
    return Keypair.fromUri(mnemonic.trim());
  }

  /** From a 32-byte mini-secret seed, hex. */
  static fromSeed(seedHex: string): Keypair {
    if (!isHex(seedHex) || hexToU8a(seedHex).length !== 32) throw new Error('seed must be 32 bytes of 0x-prefixed hex');
    const keyring = new Keyring({ type: 'sr25519', ss58Format: BITTENSOR_SS58_FORMAT });
    return new Keypair(keyring.addFromSeed(hexToU8a(seedHex)));
  }

  get ss58Address(): string {
    return this.pair.address;
  }

  get publicKey(): Uint8Array {
    return this.pair.publicKey;
  }

  /** Signs the UTF-8 bytes of `message` (or raw bytes); returns 0x-hex like the Python SDK. */
  sign(message: string | Uint8Array): string {
    return u8aToHex(this.pair.sign(typeof message === 'string' ? stringToU8a(message) : message));
  }

  toString(): string {
    return `Keypair(${this.ss58Address})`;
  }

  toJSON(): { ss58Address: string } {
    return { ss58Address: this.ss58Address };
  }
}

/** Verifies an sr25519 signature over the UTF-8 message; never throws on malformed input. */
export function verifySignature(message: string | Uint8Array, signature: string, ss58Address: string): boolean {
  try {
    if (!isHex(signature)) return false;
    return signatureVerify(message, signature, ss58Address).isValid;
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
