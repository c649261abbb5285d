import { compactFromU8a, compactToU8a, u8aConcat } from '@polkadot/util';
import { decodeAddress } from '@polkadot/util-crypto';

/**
 * The plaintext of a timelocked weights commit: Subtensor's
 * `WeightsTlockPayload`, SCALE-encoded. Runtimes with `commit_crv3_weights`
 * (spec 293 and its neighbours) decode `{ uids, values, version_key }`; those
 * with `commit_timelocked_weights` decode `{ hotkey, uids, values, version_key }`
 * first (the hotkey being the committer's SCALE-encoded AccountId, checked
 * against the signer) and fall back to the legacy form.
 */
export type WeightsPayloadFormat = 'legacy' | 'with-hotkey';

export interface WeightsTlockPayload {
  /** SS58 address or 32-byte public key; required by the `with-hotkey` format. */
  hotkey?: string | Uint8Array;
  uids: readonly number[];
  values: readonly number[];
  versionKey: number | bigint;
}

export class WeightsPayloadError extends Error {}

function u16Vec(values: readonly number[], what: string): Uint8Array {
  const body = new Uint8Array(values.length * 2);
  const view = new DataView(body.buffer);
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff)
      throw new WeightsPayloadError(`${what}[${i}] = ${v} is not a u16`);
    view.setUint16(i * 2, v, true);
  });
  return u8aConcat(compactToU8a(values.length), body);
}

function u64(value: number | bigint): Uint8Array {
  const v = BigInt(value);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn)
    throw new WeightsPayloadError(`version_key ${value} is not a u64`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v, true);
  return out;
}

function accountId(hotkey: string | Uint8Array): Uint8Array {
  const key = typeof hotkey === 'string' ? decodeAddress(hotkey) : hotkey;
  if (key.length !== 32) throw new WeightsPayloadError(`a hotkey is 32 bytes, not ${key.length}`);
  return key;
}

export function encodeWeightsTlockPayload(
  payload: WeightsTlockPayload,
  format: WeightsPayloadFormat,
): Uint8Array {
  if (payload.uids.length !== payload.values.length)
    throw new WeightsPayloadError('uids and values differ in length');
  const body = [u16Vec(payload.uids, 'uids'), u16Vec(payload.values, 'values'), u64(payload.versionKey)];
  if (format === 'legacy') return u8aConcat(...body);
  if (payload.hotkey === undefined) throw new WeightsPayloadError('this payload format carries the hotkey');
  // Vec<u8> holding the SCALE AccountId32, which is the raw 32 bytes.
  const hotkey = accountId(payload.hotkey);
  return u8aConcat(compactToU8a(hotkey.length), hotkey, ...body);
}

export interface DecodedWeightsPayload {
  hotkey?: Uint8Array;
  uids: number[];
  values: number[];
  versionKey: bigint;
}

/** Strict decoding (every byte used), for tests and for checking what was sent. */
export function decodeWeightsTlockPayload(
  bytes: Uint8Array,
  format: WeightsPayloadFormat,
): DecodedWeightsPayload {
  let offset = 0;
  const compact = (): number => {
    const [length, value] = compactFromU8a(bytes.subarray(offset));
    offset += length;
    return value.toNumber();
  };
  const take = (n: number): Uint8Array => {
    if (offset + n > bytes.length) throw new WeightsPayloadError('truncated weights payload');
    const out = bytes.subarray(offset, offset + n);
    offset += n;
    return out;
  };
  const u16s = (): number[] => {
    const n = compact();
    const raw = take(n * 2);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Array.from({ length: n }, (_, i) => view.getUint16(i * 2, true));
  };
  const hotkey = format === 'with-hotkey' ? Uint8Array.from(take(compact())) : undefined;
  const uids = u16s();
  const values = u16s();
  const raw = take(8);
  const versionKey = new DataView(raw.buffer, raw.byteOffset, 8).getBigUint64(0, true);
  if (offset !== bytes.length) throw new WeightsPayloadError('trailing bytes after the weights payload');
  return { ...(hotkey ? { hotkey } : {}), uids, values, versionKey };
}
