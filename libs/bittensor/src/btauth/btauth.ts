import { createHash } from 'node:crypto';
import { decodeAddress } from '@polkadot/util-crypto';
import { timeNs } from '../auth/dendrite-auth';
import { CRYPTO_ED25519, CRYPTO_SR25519, CRYPTO_TYPE_NAMES, type CryptoType, type Keypair, verifySignature } from '../keys/keypair';
import { headerValue, type HeaderBag } from '../synapse/synapse';

/**
 * btauth/1: hotkey-signed HTTP requests, the signed-request layer of the
 * current Python SDK (`bittensor.http_auth`, 11.x), which replaced the
 * 10.x axon and dendrite. A request proves "sent by hotkey X, to hotkey Y,
 * with exactly this body, recently" with six headers over a newline-joined
 * payload; the HTTP layer is anyone's.
 *
 * Everything here follows bittensor 11.3.0 byte for byte: the payload, the
 * headers (and their order), the parsing of each header, the order of the
 * checks, the error classes and their messages (which never echo the
 * signature or the payload, so they are safe to send to the caller), the
 * 10 s freshness window with 2 s of allowed skew, and the replay check that
 * writes the seen-nonce store only after the signature verified.
 */
export const BTAUTH_PROTOCOL = 'btauth/1';
export const BTAUTH_VERSION = '1';

export const BTAUTH_HEADER = {
  version: 'X-Bittensor-Version',
  hotkey: 'X-Bittensor-Hotkey',
  receiver: 'X-Bittensor-Receiver',
  nonce: 'X-Bittensor-Nonce',
  crypto: 'X-Bittensor-Crypto',
  signature: 'X-Bittensor-Signature',
} as const;

/** Seconds a nonce may lag the verifier's clock (`DEFAULT_MAX_AGE`). */
export const BTAUTH_DEFAULT_MAX_AGE_S = 10;
/** Seconds a nonce may run ahead of the verifier's clock (`DEFAULT_ALLOWED_SKEW`). */
export const BTAUTH_DEFAULT_ALLOWED_SKEW_S = 2;

/** The payload's receiver line for a request bound to no receiver. */
const NO_RECEIVER = '-';

export type BtAuthFailure = 'malformed' | 'wrong_receiver' | 'stale' | 'replayed' | 'bad_signature';

/** The SDK's `AuthError` family; `name` is the SDK's class name. */
export class BtAuthError extends Error {
  constructor(
    readonly kind: BtAuthFailure,
    message: string,
  ) {
    super(message);
    this.name = { malformed: 'MalformedAuth', wrong_receiver: 'WrongReceiver', stale: 'StaleRequest', replayed: 'ReplayedRequest', bad_signature: 'BadSignature' }[kind];
  }

  /**
   * The HTTP status to answer: 403 for a request signed for another (or no)
   * receiver, which no retry of it can fix; 401 for every other failure
   * (missing or malformed headers, stale or future nonce, bad signature,
   * replay), which a fresh, correctly signed request can.
   */
  get httpStatus(): 401 | 403 {
    return this.kind === 'wrong_receiver' ? 403 : 401;
  }
}

/** The authenticated sender of a verified request (the SDK's `Caller`). */
export interface BtAuthCaller {
  hotkey: string;
  nonceNs: bigint;
  cryptoType: CryptoType;
}

/**
 * Replay state (the SDK's `NonceStore`): `checkAndStore` records the
 * (hotkey, nonce) pair and answers true if it was never seen, false if it
 * was. Entries must outlive the freshness window (`retentionSeconds` at
 * least max age + allowed skew).
 */
export interface BtAuthNonceStore {
  readonly retentionSeconds?: number;
  checkAndStore(hotkey: string, nonceNs: bigint): Promise<boolean> | boolean;
}

/** The SDK's `InMemoryNonceStore`: one process (tests, a single replica), entries kept `retentionSeconds` (60 by default). */
export class InMemoryNonceStore implements BtAuthNonceStore {
  private readonly seen = new Set<string>();
  private readonly expiry: { at: number; key: string }[] = [];
  private head = 0;

  constructor(
    readonly retentionSeconds = 60,
    private readonly now: () => number = () => performance.now(),
  ) {}

  checkAndStore(hotkey: string, nonceNs: bigint): boolean {
    const key = `${hotkey}\n${nonceNs}`;
    const now = this.now();
    while (this.head < this.expiry.length && this.expiry[this.head].at <= now) this.seen.delete(this.expiry[this.head++].key);
    if (this.head > 1024 && this.head * 2 > this.expiry.length) {
      this.expiry.splice(0, this.head);
      this.head = 0;
    }
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    this.expiry.push({ at: now + this.retentionSeconds * 1000, key });
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}

/** The subset of an ioredis client the Redis nonce store uses. */
export interface RedisSetNx {
  set(key: string, value: string, ex: 'EX', seconds: number, nx: 'NX'): Promise<'OK' | null>;
}

/**
 * A seen-nonce store shared by every replica behind one hotkey: one
 * `SET key 1 EX <retention> NX` per accepted request, so a request replayed
 * to another replica is refused too. Keys expire on their own.
 */
export class RedisNonceStore implements BtAuthNonceStore {
  constructor(
    private readonly redis: RedisSetNx,
    private readonly keyPrefix: string,
    readonly retentionSeconds = 60,
  ) {}

  async checkAndStore(hotkey: string, nonceNs: bigint): Promise<boolean> {
    const stored = await this.redis.set(`${this.keyPrefix}${hotkey}:${nonceNs}`, '1', 'EX', Math.ceil(this.retentionSeconds), 'NX');
    return stored === 'OK';
  }
}

export interface BtAuthPayload {
  scheme: 'sr25519' | 'ed25519';
  method: string;
  /** The request target as sent: path plus `?query`. */
  path: string;
  body: Uint8Array | string;
  nonceNs: bigint;
  sender: string;
  receiver?: string;
}

function sha256Hex(body: Uint8Array | string): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * The exact bytes that are signed (the SDK's `build_payload`): newline-joined
 * UTF-8 of the protocol, the scheme, the uppercase method, the request
 * target, the lowercase-hex sha256 of the raw body, the decimal nonce, the
 * sender and the receiver (`-` when unbound).
 */
export function btAuthPayload(p: BtAuthPayload): Buffer {
  const lines = [BTAUTH_PROTOCOL, p.scheme, p.method.toUpperCase(), p.path, sha256Hex(p.body), p.nonceNs.toString(), p.sender, p.receiver || NO_RECEIVER];
  return Buffer.from(lines.join('\n'), 'utf8');
}

export interface BtAuthSignOptions {
  method: string;
  path: string;
  body?: Uint8Array | string;
  receiver?: string;
  /** For tests; every request (and every retry) must carry a fresh nonce. */
  nonceNs?: bigint;
}

let lastSignedNonce = 0n;

/** A nonce from the wall clock in ns, never repeating within this process. */
function freshNonce(): bigint {
  let nonce = timeNs();
  if (nonce <= lastSignedNonce) nonce = lastSignedNonce + 1n;
  lastSignedNonce = nonce;
  return nonce;
}

/**
 * Signs a request with a hotkey (the SDK's `http_auth.sign`); returns the
 * headers to send with exactly `body`. `X-Bittensor-Crypto` is sent only for
 * ed25519 (absent means sr25519), `X-Bittensor-Receiver` only when bound.
 */
export function signBtAuth(keypair: Keypair, options: BtAuthSignOptions): Record<string, string> {
  const nonceNs = options.nonceNs ?? freshNonce();
  const scheme = CRYPTO_TYPE_NAMES[keypair.cryptoType];
  const payload = btAuthPayload({
    scheme,
    method: options.method,
    path: options.path,
    body: options.body ?? '',
    nonceNs,
    sender: keypair.ss58Address,
    receiver: options.receiver,
  });
  const headers: Record<string, string> = {
    [BTAUTH_HEADER.version]: BTAUTH_VERSION,
    [BTAUTH_HEADER.hotkey]: keypair.ss58Address,
    [BTAUTH_HEADER.nonce]: nonceNs.toString(),
    [BTAUTH_HEADER.signature]: keypair.sign(payload),
  };
  if (keypair.cryptoType !== CRYPTO_SR25519) headers[BTAUTH_HEADER.crypto] = scheme;
  if (options.receiver !== undefined) headers[BTAUTH_HEADER.receiver] = options.receiver;
  return headers;
}

export interface BtAuthVerifyOptions {
  method: string;
  /** The request target as received, query string included. */
  path: string;
  /** This server's hotkey. */
  selfHotkey: string;
  maxAgeSeconds?: number;
  allowedSkewSeconds?: number;
  /** Refuse requests bound to no receiver (the default, as in the SDK). */
  requireReceiver?: boolean;
  nonceStore: BtAuthNonceStore;
  nowNs?: bigint;
}

/** Python's `int(text)` for a header: surrounding whitespace, a sign, digits with single underscores between them. */
function parsePyInt(text: string): bigint | undefined {
  const match = /^\s*([+-]?)(\d(?:_?\d)*)\s*$/.exec(text);
  if (!match) return undefined;
  const value = BigInt(match[2].replaceAll('_', ''));
  return match[1] === '-' ? -value : value;
}

/** Python's `bytes.fromhex`: pairs of hex digits, ASCII whitespace allowed between pairs. */
function parsePyHex(text: string): Uint8Array | undefined {
  const out: number[] = [];
  let i = 0;
  while (i < text.length) {
    if (/[ \t\n\r\v\f]/.test(text[i])) {
      i++;
      continue;
    }
    const pair = text.slice(i, i + 2);
    if (!/^[0-9a-fA-F]{2}$/.test(pair)) return undefined;
    out.push(parseInt(pair, 16));
    i += 2;
  }
  return Uint8Array.from(out);
}

/** The SDK's `parse_crypto_type`: `ed25519` / `sr25519` (any case, trimmed) or `0` / `1`. */
function parseCryptoType(value: string): CryptoType | undefined {
  const normalized = value.trim().toLowerCase();
  if (normalized === 'ed25519') return CRYPTO_ED25519;
  if (normalized === 'sr25519') return CRYPTO_SR25519;
  if (/^\d+$/.test(normalized)) {
    const code = Number(normalized);
    if (code === CRYPTO_ED25519 || code === CRYPTO_SR25519) return code;
  }
  return undefined;
}

/** Python's `{x:g}` for the window lengths in messages. */
function pyG(x: number): string {
  return String(Number(x.toPrecision(6)));
}

function lowered(headers: HeaderBag): Map<string, string> {
  const out = new Map<string, string>();
  if (typeof (headers as Headers).forEach === 'function' && typeof (headers as Headers).get === 'function') {
    (headers as Headers).forEach((value, key) => out.set(key.toLowerCase(), value));
    return out;
  }
  for (const key of Object.keys(headers)) {
    const value = headerValue(headers, key);
    if (value !== undefined) out.set(key.toLowerCase(), value);
  }
  return out;
}

/**
 * Authenticates a request (the SDK's `http_auth.verify`); returns the caller
 * or throws a BtAuthError. `body` is the raw received bytes, hashed before
 * any parsing. Checks, in the SDK's order: header shape, receiver binding,
 * freshness (max age back, allowed skew ahead), the signature under the
 * declared scheme only, then replay: the nonce store is written only after
 * the signature verified, so unsigned traffic cannot poison it.
 */
export async function verifyBtAuth(headers: HeaderBag, body: Uint8Array | string, options: BtAuthVerifyOptions): Promise<BtAuthCaller> {
  const h = lowered(headers);
  const maxAge = options.maxAgeSeconds ?? BTAUTH_DEFAULT_MAX_AGE_S;
  const skew = options.allowedSkewSeconds ?? BTAUTH_DEFAULT_ALLOWED_SKEW_S;

  if (h.get('x-bittensor-version') !== BTAUTH_VERSION) {
    throw new BtAuthError('malformed', `missing or unsupported ${BTAUTH_HEADER.version} (expected '${BTAUTH_VERSION}')`);
  }
  const sender = h.get('x-bittensor-hotkey');
  if (!sender) throw new BtAuthError('malformed', `missing ${BTAUTH_HEADER.hotkey}`);
  const rawNonce = h.get('x-bittensor-nonce');
  if (rawNonce === undefined) throw new BtAuthError('malformed', `missing ${BTAUTH_HEADER.nonce}`);
  const nonce = parsePyInt(rawNonce);
  if (nonce === undefined) throw new BtAuthError('malformed', `${BTAUTH_HEADER.nonce} is not a decimal integer`);
  const cryptoType = parseCryptoType(h.get('x-bittensor-crypto') ?? 'sr25519');
  if (cryptoType === undefined) throw new BtAuthError('malformed', `unsupported ${BTAUTH_HEADER.crypto}`);
  // The canonical scheme name, never the header's spelling, goes into the signed bytes.
  const scheme = CRYPTO_TYPE_NAMES[cryptoType];
  const rawSignature = h.get('x-bittensor-signature');
  if (rawSignature === undefined) throw new BtAuthError('malformed', `missing ${BTAUTH_HEADER.signature}`);
  const signature = parsePyHex(rawSignature.startsWith('0x') ? rawSignature.slice(2) : rawSignature);
  if (!signature) throw new BtAuthError('malformed', `${BTAUTH_HEADER.signature} is not hex`);

  const receiver = h.get('x-bittensor-receiver');
  if (receiver === undefined) {
    if (options.requireReceiver ?? true) {
      throw new BtAuthError('wrong_receiver', `missing ${BTAUTH_HEADER.receiver}: this server requires receiver-bound requests`);
    }
  } else if (receiver !== options.selfHotkey) {
    throw new BtAuthError('wrong_receiver', 'request was signed for a different receiving hotkey');
  }

  const now = options.nowNs ?? timeNs();
  // Python compares the integer difference with the float exactly; for an integer d, d > f is d > floor(f).
  if (now - nonce > BigInt(Math.floor(maxAge * 1e9))) throw new BtAuthError('stale', `nonce is older than the ${pyG(maxAge)}s freshness window`);
  if (nonce - now > BigInt(Math.floor(skew * 1e9))) throw new BtAuthError('stale', `nonce is more than ${pyG(skew)}s in the future`);

  let senderValid = false;
  try {
    senderValid = !sender.startsWith('0x') && decodeAddress(sender).length === 32;
  } catch {
    senderValid = false;
  }
  if (!senderValid || signature.length !== 64) throw new BtAuthError('malformed', 'invalid hotkey address or signature encoding');
  const payload = btAuthPayload({ scheme, method: options.method, path: options.path, body, nonceNs: nonce, sender, receiver });
  if (!verifySignature(payload, signature, sender, cryptoType)) {
    throw new BtAuthError('bad_signature', 'signature does not verify against the claimed hotkey');
  }

  const store = options.nonceStore;
  if (store.retentionSeconds !== undefined && maxAge + skew > store.retentionSeconds) {
    throw new Error(
      `nonce store retains entries for ${pyG(store.retentionSeconds)}s but the freshness window is ${pyG(maxAge + skew)}s — replays inside the gap would be accepted; use a store with retention >= max_age + allowed_skew`,
    );
  }
  if (!(await store.checkAndStore(sender, nonce))) throw new BtAuthError('replayed', 'this nonce was already accepted from this hotkey');
  return { hotkey: sender, nonceNs: nonce, cryptoType };
}
