import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { bls12_381 as bls } from '@noble/curves/bls12-381';
import { quicknetPublicKey, roundIdentity, stripHex } from './quicknet';

/*
 * Timelock encryption to a drand round, byte-compatible with the `tle` crate
 * (ideal-lab5/timelock) that Subtensor decrypts commits with: Boneh-Franklin
 * IBE (FullIdent with the Fujisaki-Okamoto check) on BLS12-381 carries a
 * random 32-byte AES-256-GCM key; the identity is the round's G1 hash point,
 * so quicknet's signature for the round is the IBE secret key. The result is
 * `TLECiphertext` in ark-serialize's compressed encoding.
 */

const Fr = bls.fields.Fr;
type Gt = ReturnType<typeof bls.pairing>;
type G2Point = InstanceType<typeof bls.G2.ProjectivePoint>;

/** `tle`'s cipher suite tag for AES-GCM bodies. */
const AES_GCM_SUITE = Buffer.from('AES_GCM_');
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const KEY_LENGTH = 32;

export class TimelockError extends Error {}

export interface TimelockCiphertext {
  /** IBE header: U = r·G2, V = sigma ⊕ H2(e(Q_id, r·P_pub)), W = key ⊕ H4(sigma). */
  u: G2Point;
  v: Uint8Array;
  w: Uint8Array;
  /** AES-256-GCM ciphertext with its 16-byte tag appended, as the `aes-gcm` crate writes it. */
  ciphertext: Uint8Array;
  nonce: Uint8Array;
  cipherSuite: Uint8Array;
}

/** Random inputs of one encryption; tests pass them to get reproducible bytes. */
export interface TimelockRandomness {
  /** The AES key the IBE header carries (32 bytes). */
  key: Uint8Array;
  /** The IBE scalar t, from which sigma = sha256(t as 32 little-endian bytes). */
  t: bigint;
  nonce: Uint8Array;
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function xor32(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.from(a);
  for (let i = 0; i < 32; i++) out[i] ^= b[i];
  return out;
}

function bigintFromBytesBE(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function bytesLE(value: bigint, length: number): Buffer {
  const out = Buffer.alloc(length);
  let v = value;
  for (let i = 0; i < length; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** ark-serialize's encoding of a target-group element: the Fp12 tower, each Fp 48 bytes little-endian. */
function serializeGt(x: Gt): Buffer {
  const parts: Buffer[] = [];
  for (const c6 of [x.c0, x.c1])
    for (const c2 of [c6.c0, c6.c1, c6.c2]) for (const fp of [c2.c0, c2.c1]) parts.push(bytesLE(fp, 48));
  return Buffer.concat(parts);
}

/** H2: sha256 of the serialized pairing value. */
function h2(x: Gt): Buffer {
  return sha256(serializeGt(x));
}

/** H3: sha256(sigma ‖ message) reduced into the scalar field, read big-endian. */
function h3(sigma: Uint8Array, message: Uint8Array): bigint {
  return Fr.create(bigintFromBytesBE(sha256(sigma, message)));
}

/** e(Q, P) in the engine's convention: signature group (G1) first. */
function pairing(q: ReturnType<typeof roundIdentity>, p: G2Point): Gt {
  return bls.pairing(q as unknown as InstanceType<typeof bls.G1.ProjectivePoint>, p);
}

function randomScalar(): bigint {
  for (;;) {
    const t = Fr.create(bigintFromBytesBE(randomBytes(48)));
    if (t !== 0n) return t;
  }
}

/** Encrypts `message` so that quicknet's signature for `round` decrypts it. */
export function timelockEncrypt(
  message: Uint8Array,
  round: number | bigint,
  randomness: TimelockRandomness = {
    key: randomBytes(KEY_LENGTH),
    t: randomScalar(),
    nonce: randomBytes(NONCE_LENGTH),
  },
): TimelockCiphertext {
  const { key, t, nonce } = randomness;
  if (key.length !== KEY_LENGTH) throw new TimelockError(`the AES key must be ${KEY_LENGTH} bytes`);
  if (nonce.length !== NONCE_LENGTH)
    throw new TimelockError(`the AES-GCM nonce must be ${NONCE_LENGTH} bytes`);
  const sigma = sha256(bytesLE(Fr.create(t), 32));
  const r = h3(sigma, key);
  if (r === 0n) throw new TimelockError('degenerate IBE scalar; encrypt again');
  const u = bls.G2.ProjectivePoint.BASE.multiply(r);
  const gId = pairing(roundIdentity(round), quicknetPublicKey().multiply(r));
  const v = xor32(sigma, h2(gId));
  const w = xor32(key, sha256(sigma));
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(message), cipher.final(), cipher.getAuthTag()]);
  return { u, v, w, ciphertext: body, nonce: Buffer.from(nonce), cipherSuite: AES_GCM_SUITE };
}

/** Decrypts with quicknet's signature for the ciphertext's round (48-byte compressed G1, hex or bytes). */
export function timelockDecrypt(ct: TimelockCiphertext, signature: string | Uint8Array): Buffer {
  if (!Buffer.from(ct.cipherSuite).equals(AES_GCM_SUITE))
    throw new TimelockError(`unsupported cipher suite ${Buffer.from(ct.cipherSuite).toString('latin1')}`);
  if (ct.v.length !== 32 || ct.w.length !== 32) throw new TimelockError('malformed IBE header');
  const sig = bls.G1.ProjectivePoint.fromHex(typeof signature === 'string' ? stripHex(signature) : signature);
  const sigma = xor32(ct.v, h2(bls.pairing(sig, ct.u)));
  const key = xor32(ct.w, sha256(sigma));
  // The Fujisaki-Okamoto check: a wrong signature gives a U that does not match.
  if (!bls.G2.ProjectivePoint.BASE.multiply(h3(sigma, key)).equals(ct.u))
    throw new TimelockError('the signature does not open this ciphertext (wrong round?)');
  if (ct.nonce.length !== NONCE_LENGTH) throw new TimelockError('bad AES-GCM nonce');
  if (ct.ciphertext.length < TAG_LENGTH) throw new TimelockError('AES-GCM body too short');
  const body = Buffer.from(ct.ciphertext);
  const decipher = createDecipheriv('aes-256-gcm', key, ct.nonce);
  decipher.setAuthTag(body.subarray(body.length - TAG_LENGTH));
  try {
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_LENGTH)), decipher.final()]);
  } catch {
    throw new TimelockError('AES-GCM authentication failed');
  }
}

// ark-serialize: a Vec<u8> is its length as u64 little-endian, then the bytes.
function arkBytes(bytes: Uint8Array): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(bytes.length));
  return Buffer.concat([len, bytes]);
}

/** `TLECiphertext` { header { u, v, w }, body: AESOutput { ciphertext, nonce }, cipher_suite }, compressed. */
export function serializeTimelockCiphertext(ct: TimelockCiphertext): Buffer {
  const body = Buffer.concat([arkBytes(ct.ciphertext), arkBytes(ct.nonce)]);
  return Buffer.concat([
    Buffer.from(ct.u.toRawBytes(true)),
    arkBytes(ct.v),
    arkBytes(ct.w),
    arkBytes(body),
    arkBytes(ct.cipherSuite),
  ]);
}

class Reader {
  private offset = 0;
  constructor(private readonly data: Buffer) {}

  take(n: number): Buffer {
    if (this.offset + n > this.data.length) throw new TimelockError('truncated timelock ciphertext');
    const out = this.data.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  bytes(): Buffer {
    const len = this.take(8).readBigUInt64LE();
    if (len > BigInt(this.data.length)) throw new TimelockError('truncated timelock ciphertext');
    return this.take(Number(len));
  }

  end(): void {
    if (this.offset !== this.data.length)
      throw new TimelockError('trailing bytes after the timelock ciphertext');
  }
}

export function deserializeTimelockCiphertext(bytes: Uint8Array | string): TimelockCiphertext {
  const reader = new Reader(
    typeof bytes === 'string' ? Buffer.from(stripHex(bytes), 'hex') : Buffer.from(bytes),
  );
  let u: G2Point;
  try {
    u = bls.G2.ProjectivePoint.fromHex(reader.take(96));
  } catch (error) {
    throw new TimelockError(`bad G2 point in the IBE header: ${(error as Error).message}`);
  }
  const v = reader.bytes();
  const w = reader.bytes();
  const body = new Reader(reader.bytes());
  const cipherSuite = reader.bytes();
  reader.end();
  const ciphertext = body.bytes();
  const nonce = body.bytes();
  body.end();
  return { u, v, w, ciphertext, nonce, cipherSuite };
}

/** Encrypts to `round` and serializes: the bytes a `commit_*_weights` call carries. */
export function timelockEncryptToBytes(
  message: Uint8Array,
  round: number | bigint,
  randomness?: TimelockRandomness,
): Buffer {
  return serializeTimelockCiphertext(timelockEncrypt(message, round, randomness));
}

/** Deserializes and decrypts with the round's signature. */
export function timelockDecryptBytes(bytes: Uint8Array | string, signature: string | Uint8Array): Buffer {
  return timelockDecrypt(deserializeTimelockCiphertext(bytes), signature);
}
