import { createHash } from 'node:crypto';
import { bls12_381 as bls } from '@noble/curves/bls12-381';

/**
 * drand quicknet, the beacon Subtensor's drand pallet ingests: unchained
 * rounds every 3 s, signatures on G1 (RFC 9380 hash-to-curve), the group's
 * public key on G2.
 */
export const QUICKNET = {
  chainHash: '52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971',
  publicKey:
    '83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a',
  genesisTime: 1_692_803_367,
  periodSeconds: 3,
  signatureDst: 'BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_',
} as const;

type G1Point = ReturnType<typeof bls.G1.hashToCurve>;

let publicKey: InstanceType<typeof bls.G2.ProjectivePoint> | undefined;

/** Quicknet's public key as a G2 point (parsed once). */
export function quicknetPublicKey(): InstanceType<typeof bls.G2.ProjectivePoint> {
  publicKey ??= bls.G2.ProjectivePoint.fromHex(QUICKNET.publicKey);
  return publicKey;
}

/** What quicknet signs for a round: sha256 of the round as a big-endian u64. */
export function roundMessage(round: number | bigint): Buffer {
  const be = Buffer.alloc(8);
  be.writeBigUInt64BE(BigInt(round));
  return createHash('sha256').update(be).digest();
}

/** The round's identity point on G1: the message hashed to the curve with quicknet's DST. */
export function roundIdentity(round: number | bigint): G1Point {
  return bls.G1.hashToCurve(roundMessage(round), { DST: QUICKNET.signatureDst });
}

/** Whether `signature` (48-byte compressed G1, hex) is quicknet's signature for `round`. */
export function verifyRoundSignature(round: number | bigint, signature: string | Uint8Array): boolean {
  try {
    const sig = bls.G1.ProjectivePoint.fromHex(
      typeof signature === 'string' ? stripHex(signature) : signature,
    );
    const left = bls.pairing(sig, bls.G2.ProjectivePoint.BASE);
    const right = bls.pairing(roundIdentity(round) as unknown as typeof sig, quicknetPublicKey());
    return bls.fields.Fp12.eql(left, right);
  } catch {
    return false;
  }
}

/** The latest round quicknet has emitted at `unixSeconds` (0 before genesis). */
export function quicknetRoundAt(unixSeconds: number): number {
  if (unixSeconds < QUICKNET.genesisTime) return 0;
  return Math.floor((unixSeconds - QUICKNET.genesisTime) / QUICKNET.periodSeconds) + 1;
}

export function stripHex(hex: string): string {
  return hex.startsWith('0x') ? hex.slice(2) : hex;
}
