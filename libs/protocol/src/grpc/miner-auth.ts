import { CRYPTO_ED25519, type DendriteAuth } from '@chattensor/bittensor';

/** gRPC metadata keys of the miner call's Bittensor-style authentication. */
export const MinerAuthMetadata = {
  dendriteHotkey: 'bt-dendrite-hotkey',
  axonHotkey: 'bt-axon-hotkey',
  nonce: 'bt-nonce',
  uuid: 'bt-uuid',
  bodyHash: 'bt-body-hash',
  signature: 'bt-signature',
  /** Seconds the caller will wait. Not signed, so informational only: it never widens the nonce window. */
  timeout: 'bt-timeout',
  /** `ed25519` for an ed25519 caller; absent means sr25519. The signature verifies under this scheme only. */
  crypto: 'bt-crypto',
} as const;

export function authToMetadata(auth: DendriteAuth, timeoutSeconds: number): Record<string, string> {
  return {
    [MinerAuthMetadata.dendriteHotkey]: auth.dendriteHotkey,
    [MinerAuthMetadata.axonHotkey]: auth.axonHotkey,
    [MinerAuthMetadata.nonce]: auth.nonce.toString(),
    [MinerAuthMetadata.uuid]: auth.uuid,
    [MinerAuthMetadata.bodyHash]: auth.bodyHash,
    [MinerAuthMetadata.signature]: auth.signature,
    [MinerAuthMetadata.timeout]: String(timeoutSeconds),
    ...(auth.cryptoType === CRYPTO_ED25519 ? { [MinerAuthMetadata.crypto]: 'ed25519' } : {}),
  };
}

/** Reads whatever authentication is present; the verifier decides what is missing. */
export function authFromMetadata(get: (key: string) => string | undefined): {
  auth: Partial<DendriteAuth>;
  timeoutSeconds: number;
} {
  const nonceText = get(MinerAuthMetadata.nonce);
  let nonce: bigint | undefined;
  if (nonceText && /^\d{1,30}$/.test(nonceText)) nonce = BigInt(nonceText);
  const timeout = Number(get(MinerAuthMetadata.timeout));
  return {
    auth: {
      dendriteHotkey: get(MinerAuthMetadata.dendriteHotkey),
      axonHotkey: get(MinerAuthMetadata.axonHotkey),
      nonce,
      uuid: get(MinerAuthMetadata.uuid),
      bodyHash: get(MinerAuthMetadata.bodyHash),
      signature: get(MinerAuthMetadata.signature),
      ...(get(MinerAuthMetadata.crypto) === 'ed25519' ? { cryptoType: CRYPTO_ED25519 } : {}),
    },
    timeoutSeconds: Number.isFinite(timeout) && timeout > 0 && timeout < 3600 ? timeout : 12,
  };
}
