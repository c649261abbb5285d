import { createHash, randomUUID } from 'node:crypto';
import { CRYPTO_SR25519, type CryptoType, type Keypair, verifySignature } from '../keys/keypair';

/** The SDK's allowance for clock skew on a first request (4 s, in ns). */
export const ALLOWED_DELTA_NS = 4_000_000_000n;
/**
 * How far back a nonce may be: the SDK's 4 s allowance plus its default
 * synapse timeout (12 s). Fixed, whatever timeout the caller states: that
 * value is not signed, so it must not widen the window.
 */
export const NONCE_MAX_AGE_NS = ALLOWED_DELTA_NS + 12_000_000_000n;
/** How far ahead of this clock a nonce may be (the same 4 s allowance). */
export const NONCE_MAX_SKEW_NS = ALLOWED_DELTA_NS;

export interface DendriteAuth {
  nonce: bigint;
  dendriteHotkey: string;
  axonHotkey: string;
  uuid: string;
  bodyHash: string;
  signature: string;
  /** The signer's scheme; absent means sr25519 (the SDK-10 dendrite's only one). */
  cryptoType?: CryptoType;
}

/** The exact message the Bittensor SDK signs: `{nonce}.{dendrite}.{axon}.{uuid}.{body_hash}`. */
export function dendriteMessage(a: Omit<DendriteAuth, 'signature' | 'cryptoType'>): string {
  return `${a.nonce}.${a.dendriteHotkey}.${a.axonHotkey}.${a.uuid}.${a.bodyHash}`;
}

export function sha3Hex(data: string | Uint8Array): string {
  return createHash('sha3-256').update(data).digest('hex');
}

/** Wall clock in nanoseconds, like Python's `time.time_ns()`. */
export function timeNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}

/**
 * The caller side: one instance per validator process, with a stable uuid
 * (the SDK's `dendrite.uuid`) and a nonce that never goes backwards even if
 * two calls land in the same nanosecond.
 */
export class DendriteSigner {
  readonly uuid = randomUUID();
  private lastNonce = 0n;

  constructor(private readonly keypair: Keypair) {}

  get hotkey(): string {
    return this.keypair.ss58Address;
  }

  sign(axonHotkey: string, bodyHash: string, uuid: string = this.uuid): DendriteAuth {
    let nonce = timeNs();
    if (nonce <= this.lastNonce) nonce = this.lastNonce + 1n;
    this.lastNonce = nonce;
    const unsigned = { nonce, dendriteHotkey: this.keypair.ss58Address, axonHotkey, uuid, bodyHash };
    const signed: DendriteAuth = { ...unsigned, signature: this.keypair.sign(dendriteMessage(unsigned)) };
    if (this.keypair.cryptoType !== CRYPTO_SR25519) signed.cryptoType = this.keypair.cryptoType;
    return signed;
  }

  /**
   * An axon keeps one nonce per `hotkey:uuid` and refuses any nonce not newer
   * than the last it processed, so two requests in flight to one axon under
   * one uuid may arrive out of order and the earlier-signed one is refused as
   * a replay. A lane is a uuid that one request at a time holds: the first
   * lane is this signer's own uuid, further lanes are opened only while
   * requests overlap and are reused afterwards, so the axon's nonce table
   * grows with our peak concurrency, not with our request count.
   */
  acquireLane(axonHotkey: string): SigningLane {
    let lanes = this.lanes.get(axonHotkey);
    if (!lanes) this.lanes.set(axonHotkey, (lanes = []));
    let lane = lanes.find((l) => !l.busy);
    if (!lane) {
      lane = { uuid: lanes.length === 0 ? this.uuid : randomUUID(), busy: false };
      lanes.push(lane);
    }
    lane.busy = true;
    const held = lane;
    let released = false;
    return {
      uuid: held.uuid,
      sign: (bodyHash) => this.sign(axonHotkey, bodyHash, held.uuid),
      release: () => {
        if (released) return;
        released = true;
        held.busy = false;
      },
    };
  }

  private readonly lanes = new Map<string, { uuid: string; busy: boolean }[]>();
}

export interface SigningLane {
  uuid: string;
  sign(bodyHash: string): DendriteAuth;
  /** Call once the axon has answered (or the call failed); the uuid is free for the next request. */
  release(): void;
}

export type AuthFailure =
  | 'missing_signature'
  | 'missing_nonce'
  | 'wrong_axon'
  | 'stale_nonce'
  | 'future_nonce'
  | 'replayed_nonce'
  | 'bad_signature'
  | 'body_hash_mismatch';

export class AuthError extends Error {
  constructor(
    readonly reason: AuthFailure,
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

/**
 * The axon side. Every nonce must lie in a fixed window around this clock
 * (at most 16 s old, at most 4 s ahead; the SDK instead widens the first
 * nonce's window by the caller's unsigned timeout and checks later nonces
 * only for order), and per `hotkey:uuid` nonces must strictly increase. The
 * nonce table is bounded (least recently used out), so a flood of fresh
 * uuids cannot grow memory without limit; an evicted entry cannot reopen a
 * replay, since any nonce old enough to predate it is outside the window.
 */
export class AxonVerifier {
  private readonly nonces = new Map<string, bigint>();

  constructor(
    private readonly axonHotkey: string,
    private readonly maxEndpoints = 100_000,
  ) {}

  verify(auth: Partial<DendriteAuth>, expectedBodyHash: string, now = timeNs()): void {
    if (!auth.signature) throw new AuthError('missing_signature', 'request is not signed');
    if (auth.nonce === undefined || auth.nonce === null) throw new AuthError('missing_nonce', 'request has no nonce');
    if (!auth.dendriteHotkey || !auth.uuid) throw new AuthError('missing_signature', 'request has no caller hotkey or uuid');
    if (auth.axonHotkey !== this.axonHotkey) {
      throw new AuthError('wrong_axon', `request is addressed to ${auth.axonHotkey ?? 'nobody'}, not to this axon`);
    }
    if (auth.bodyHash !== expectedBodyHash) throw new AuthError('body_hash_mismatch', 'body hash does not match the body');
    const key = `${auth.dendriteHotkey}:${auth.uuid}`;
    if (auth.nonce <= now - NONCE_MAX_AGE_NS) throw new AuthError('stale_nonce', 'nonce is too old');
    if (auth.nonce > now + NONCE_MAX_SKEW_NS) throw new AuthError('future_nonce', 'nonce is too far in the future');
    const last = this.nonces.get(key);
    if (last !== undefined && auth.nonce <= last) {
      throw new AuthError('replayed_nonce', 'nonce is not newer than the last one processed');
    }
    const message = dendriteMessage({
      nonce: auth.nonce,
      dendriteHotkey: auth.dendriteHotkey,
      axonHotkey: auth.axonHotkey,
      uuid: auth.uuid,
      bodyHash: auth.bodyHash,
    });
    // Under the declared scheme only (sr25519 unless the caller says ed25519), never both.
    if (!verifySignature(message, auth.signature, auth.dendriteHotkey, auth.cryptoType ?? CRYPTO_SR25519)) {
      throw new AuthError('bad_signature', 'signature does not match the caller hotkey');
    }
    this.nonces.delete(key);
    this.nonces.set(key, auth.nonce);
    if (this.nonces.size > this.maxEndpoints) {
      const oldest = this.nonces.keys().next().value;
      if (oldest !== undefined) this.nonces.delete(oldest);
    }
  }
}
