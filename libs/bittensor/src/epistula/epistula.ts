import { createHash, randomUUID } from 'node:crypto';
import { isValidSs58, verifySignature, type Keypair } from '../keys/keypair';
import { pyFloatRepr } from '../synapse/py-repr';
import { headerValue, type HeaderBag } from '../synapse/synapse';

/**
 * Epistula v2: signed plain HTTP between subnet peers. The sender signs
 * `{sha256_hex(body)}.{uuid}.{timestamp_ms}.{signed_for or ''}` and sends it
 * with the headers below; addressed requests also carry three signatures of
 * the surrounding 10-second intervals (`{interval}.{signed_for}`, the
 * interval written as the Python float the reference code produces, e.g.
 * `1732550000000.0`).
 */
export const EPISTULA_VERSION = '2';
export const EPISTULA_ALLOWED_DELTA_MS = 8000;

export const EPISTULA_HEADER = {
  version: 'Epistula-Version',
  timestamp: 'Epistula-Timestamp',
  uuid: 'Epistula-Uuid',
  signedBy: 'Epistula-Signed-By',
  signedFor: 'Epistula-Signed-For',
  requestSignature: 'Epistula-Request-Signature',
  secretSignature: (i: 0 | 1 | 2) => `Epistula-Secret-Signature-${i}`,
} as const;

export type EpistulaFailure = 'missing_header' | 'bad_version' | 'bad_timestamp' | 'stale' | 'from_future' | 'wrong_receiver' | 'bad_signature';

export class EpistulaError extends Error {
  constructor(
    readonly reason: EpistulaFailure,
    message: string,
  ) {
    super(message);
    this.name = 'EpistulaError';
  }
}

function sha256Hex(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

export function epistulaMessage(bodyHash: string, uuid: string, timestampMs: number, signedFor?: string): string {
  return `${bodyHash}.${uuid}.${timestampMs}.${signedFor ?? ''}`;
}

/** Signs a request body as Epistula v2 headers. */
export function epistulaHeaders(
  keypair: Keypair,
  body: string | Uint8Array,
  options: { signedFor?: string; nowMs?: number; uuid?: string } = {},
): Record<string, string> {
  const timestamp = Math.round(options.nowMs ?? Date.now());
  const uuid = options.uuid ?? randomUUID();
  const headers: Record<string, string> = {
    [EPISTULA_HEADER.version]: EPISTULA_VERSION,
    [EPISTULA_HEADER.timestamp]: String(timestamp),
    [EPISTULA_HEADER.uuid]: uuid,
    [EPISTULA_HEADER.signedBy]: keypair.ss58Address,
    [EPISTULA_HEADER.requestSignature]: keypair.sign(epistulaMessage(sha256Hex(body), uuid, timestamp, options.signedFor)),
  };
  if (options.signedFor) {
    headers[EPISTULA_HEADER.signedFor] = options.signedFor;
    const interval = Math.ceil(timestamp / 1e4) * 1e4;
    ([-1, 0, 1] as const).forEach((offset, i) => {
      headers[EPISTULA_HEADER.secretSignature(i as 0 | 1 | 2)] = keypair.sign(`${pyFloatRepr(interval + offset)}.${options.signedFor}`);
    });
  }
  return headers;
}

export interface VerifiedEpistula {
  signedBy: string;
  signedFor?: string;
  uuid: string;
  timestampMs: number;
}

/**
 * Verifies Epistula v2 headers against the raw body. Rejects requests older
 * than the allowed delta (8 s, as the reference) and, unlike the reference,
 * also ones that far in the future; with `receiver`, the request must be
 * addressed to it.
 */
export function verifyEpistula(
  headers: HeaderBag,
  body: string | Uint8Array,
  options: { receiver?: string; nowMs?: number; allowedDeltaMs?: number } = {},
): VerifiedEpistula {
  const get = (name: string) => headerValue(headers, name.toLowerCase()) ?? headerValue(headers, name);
  const signature = get(EPISTULA_HEADER.requestSignature);
  const timestampText = get(EPISTULA_HEADER.timestamp);
  const uuid = get(EPISTULA_HEADER.uuid);
  const signedBy = get(EPISTULA_HEADER.signedBy);
  const signedFor = get(EPISTULA_HEADER.signedFor) || undefined;
  if (!signature || !timestampText || !uuid || !signedBy) throw new EpistulaError('missing_header', 'request is not signed with Epistula headers');
  const version = get(EPISTULA_HEADER.version);
  if (version !== undefined && version !== EPISTULA_VERSION) throw new EpistulaError('bad_version', `unsupported Epistula version ${version}`);
  if (!/^\d+$/.test(timestampText)) throw new EpistulaError('bad_timestamp', 'Epistula timestamp is not an integer');
  const timestampMs = Number(timestampText);
  const now = options.nowMs ?? Date.now();
  const delta = options.allowedDeltaMs ?? EPISTULA_ALLOWED_DELTA_MS;
  if (timestampMs + delta < now) throw new EpistulaError('stale', 'request is too stale');
  if (timestampMs - delta > now) throw new EpistulaError('from_future', 'request timestamp is in the future');
  if (options.receiver !== undefined && signedFor !== options.receiver) {
    throw new EpistulaError('wrong_receiver', `request is signed for ${signedFor ?? 'nobody'}, not for this receiver`);
  }
  if (!isValidSs58(signedBy)) throw new EpistulaError('bad_signature', 'Epistula-Signed-By is not an SS58 address');
  if (!verifySignature(epistulaMessage(sha256Hex(body), uuid, timestampMs, signedFor), signature, signedBy)) {
    throw new EpistulaError('bad_signature', 'Signature Mismatch');
  }
  return { signedBy, signedFor, uuid, timestampMs };
}
