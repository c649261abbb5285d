import type { IKeyringPair } from '@polkadot/types/types';
import { hexToU8a, u8aConcat } from '@polkadot/util';
import { loadHotkey, type Keypair } from '@chattensor/bittensor';
import type { HotkeySource } from '@chattensor/common';

/** The `MultiSignature` variant byte: 0 Ed25519, 1 Sr25519 (the SDK's cryptoType numbers). */
const signatureType = (keypair: Keypair) => new Uint8Array([keypair.cryptoType]);

/**
 * The hotkey as @polkadot/api's signer: extrinsics are signed by the shared
 * Keypair (which keeps the secret to itself), so the wallet folder format and
 * secret URIs are read in exactly one place.
 */
export function signingPairOf(keypair: Keypair): IKeyringPair {
  return {
    address: keypair.ss58Address,
    addressRaw: keypair.publicKey,
    publicKey: keypair.publicKey,
    sign: (data: Uint8Array, options?: { withType?: boolean }) => {
      const signature = hexToU8a(keypair.sign(data));
      return options?.withType ? u8aConcat(signatureType(keypair), signature) : signature;
    },
  };
}

export async function loadSigningPair(source: HotkeySource): Promise<IKeyringPair> {
  return signingPairOf(
    await loadHotkey({
      uri: source.uri,
      cryptoType: source.cryptoType,
      walletPath: source.walletPath,
      walletName: source.walletName,
      hotkeyName: source.hotkeyName,
      password: process.env.WALLET_HOTKEY_PASSWORD,
    }),
  );
}
