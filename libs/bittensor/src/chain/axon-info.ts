import { isIP } from 'node:net';

/**
 * The Python SDK release whose axon/dendrite wire protocol (the legacy SDK-10
 * axon) this library speaks and proves itself against (test/interop pins it
 * in .venv-sdk10). The current SDK (11.x) has no axon; its signed HTTP is
 * btauth/1 (`btauth/btauth.ts`), proven against 11.3.0 in .venv.
 */
export const BITTENSOR_SDK_VERSION = '10.5.0';

/** The SDK's `version_as_int`: each of major.minor.patch is a base-1000 digit. */
export function versionAsInt(version: string): number {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  if (!match) throw new Error(`not a major.minor.patch version: ${version}`);
  const parts = match.slice(1, 4).map(Number);
  if (parts.some((part) => part >= 1000)) throw new Error(`version component out of range: ${version}`);
  return parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2];
}

/** `version_as_int` of BITTENSOR_SDK_VERSION: what a dendrite and an axon report in their headers. */
export const BITTENSOR_VERSION_AS_INT = versionAsInt(BITTENSOR_SDK_VERSION);

/** `AxonInfo.protocol` as the SDK's axon serves it. */
export const AXON_PROTOCOL = 4;

export type IpType = 4 | 6;

const U32_MAX = 0xffff_ffffn;
const U128_MAX = (1n << 128n) - 1n;

/** An IPv4 or IPv6 address as the chain stores it in `AxonInfo.ip` (u128), with its `ip_type`. */
export function ipToInt(ip: string): { ip: bigint; ipType: IpType } {
  const version = isIP(ip);
  if (version === 4) {
    const value = ip.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
    return { ip: value, ipType: 4 };
  }
  if (version === 6) return { ip: ipv6ToBigInt(ip), ipType: 6 };
  throw new Error(`not an IP address: ${ip}`);
}

/**
 * The chain's integer back to text, as netaddr (used by the SDK's
 * `int_to_ip`) formats it: values up to 2^32-1 are IPv4, larger are IPv6
 * in compressed form (longest zero run, the first on a tie, IPv4-mapped
 * addresses dotted).
 */
export function intToIp(value: bigint | number | string): string {
  const n = BigInt(value);
  if (n < 0n || n > U128_MAX) throw new Error(`IP integer out of range: ${n}`);
  if (n <= U32_MAX) return [24n, 16n, 8n, 0n].map((shift) => String((n >> shift) & 0xffn)).join('.');
  return formatIpv6(n);
}

/** The SDK's `ip_version`. */
export function ipVersion(ip: string): IpType {
  return ipToInt(ip).ipType;
}

/** The SDK's `ip__str__`: `/ipv4/1.2.3.4:8091`. */
export function ipString(ipType: number, ip: string, port: number): string {
  return `/ipv${ipType}/${ip}:${port}`;
}

function ipv6ToBigInt(ip: string): bigint {
  let text = ip;
  const embedded = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (embedded) {
    const v4 = ipToInt(embedded[1]).ip;
    text = `${text.slice(0, -embedded[1].length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function formatIpv6(n: bigint): string {
  // netaddr writes IPv4-mapped addresses with the IPv4 part dotted.
  if (n >> 32n === 0xffffn) return `::ffff:${intToIp(n & U32_MAX)}`;
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt((7 - i) * 16)) & 0xffffn));
  // The longest run of two or more zero groups (the first on a tie) becomes '::'.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hexes = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hexes.join(':');
  const left = hexes.slice(0, bestStart).join(':');
  const right = hexes.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

/** The chain's `AxonInfo` as the SDK decodes it (ip already as text). */
export interface AxonInfo {
  version: number;
  ip: string;
  port: number;
  ipType: IpType;
  hotkey: string;
  coldkey: string;
  protocol: number;
  placeholder1: number;
  placeholder2: number;
}

/** The SDK's `AxonInfo.is_serving`: an axon that never announced itself has ip 0.0.0.0. */
export function isServing(info: Pick<AxonInfo, 'ip'>): boolean {
  return info.ip !== '0.0.0.0';
}
