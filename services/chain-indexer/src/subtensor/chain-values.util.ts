import type { Codec } from '@polkadot/types/types';

/** Chain amounts are in rao; 1 TAO (or 1 alpha) is 10^9 rao. */
export const RAO_PER_TAO = 1_000_000_000n;
export const U16_MAX = 65_535;

/**
 * Reads a named field of a decoded struct, or undefined when the runtime's
 * type has no such field: older and newer runtimes add and drop fields, and a
 * missing one must never crash the indexer.
 */
export function field(struct: Codec | undefined, name: string): Codec | undefined {
  if (!struct) return undefined;
  const getter = (struct as unknown as { get?: (key: string) => Codec | undefined }).get;
  if (typeof getter !== 'function') return undefined;
  return getter.call(struct, name);
}

/** Unwraps Option<T> (and Compact<T>) to the inner codec; undefined for None. */
export function unwrap(codec: Codec | undefined): Codec | undefined {
  if (!codec) return undefined;
  const option = codec as unknown as { isSome?: boolean; isNone?: boolean; unwrap?: () => Codec };
  if (typeof option.isNone === 'boolean' && typeof option.unwrap === 'function') {
    return option.isNone ? undefined : option.unwrap();
  }
  return codec;
}

/** A decoded integer (u8..u128, Compact, or a fixed-point `{bits}`) as bigint. */
export function big(codec: Codec | undefined): bigint | undefined {
  const inner = unwrap(codec);
  if (!inner) return undefined;
  const bits = field(inner, 'bits');
  if (bits) return big(bits);
  const value = inner as unknown as { toBigInt?: () => bigint; unwrap?: () => Codec };
  if (typeof value.toBigInt === 'function') return value.toBigInt();
  if (typeof value.unwrap === 'function') return big(value.unwrap());
  const primitive = inner.toPrimitive();
  if (typeof primitive === 'number' || typeof primitive === 'string') return BigInt(primitive);
  return undefined;
}

export function num(codec: Codec | undefined): number | undefined {
  const value = big(codec);
  return value === undefined ? undefined : Number(value);
}

export function bool(codec: Codec | undefined): boolean | undefined {
  const inner = unwrap(codec);
  if (!inner) return undefined;
  const primitive = inner.toPrimitive();
  return typeof primitive === 'boolean' ? primitive : undefined;
}

const SS58_CACHE_LIMIT = 16_384;
const ss58Cache = new Map<string, string>();

/**
 * An AccountId32 in the registry's SS58 format. Memoized: a snapshot encodes
 * every hotkey and coldkey of the subnet at every block, and they rarely change.
 */
export function account(codec: Codec | undefined): string | undefined {
  const inner = unwrap(codec);
  if (!inner) return undefined;
  const key = `${inner.registry.chainSS58 ?? ''}:${inner.toHex()}`;
  let encoded = ss58Cache.get(key);
  if (encoded === undefined) {
    encoded = inner.toString();
    if (ss58Cache.size >= SS58_CACHE_LIMIT) ss58Cache.clear();
    ss58Cache.set(key, encoded);
  }
  return encoded;
}

/** A decoded Vec<T> as an array of its element codecs (empty when absent). */
export function list(codec: Codec | undefined): Codec[] {
  const inner = unwrap(codec);
  if (!inner) return [];
  return Array.isArray(inner) ? (inner as Codec[]) : [];
}

/** rao → TAO (or alpha) as a float, exact up to 2^53 rao of precision. */
export function raoToTao(rao: bigint | undefined): number | undefined {
  if (rao === undefined) return undefined;
  const whole = rao / RAO_PER_TAO;
  const fraction = rao % RAO_PER_TAO;
  return Number(whole) + Number(fraction) / 1e9;
}

/** A u16 proportion (incentive, dividends, consensus, trust, take) as 0..1. */
export function u16Fraction(value: number | undefined): number | undefined {
  return value === undefined ? undefined : value / U16_MAX;
}
