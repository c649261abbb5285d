import { isIP } from 'node:net';

/** The chain's AxonInfo: `ip` is a u128 holding an IPv4 (low 32 bits) or IPv6 address. */
export interface ChainAxon {
  ip: bigint;
  ipType: 4 | 6;
  port: number;
  protocol: number;
  version: number;
}

/** Dotted IPv4 or IPv6 text of the chain's integer form (the SDK's `int_to_ip`). */
export function ipFromChain(ip: bigint, ipType: number): string | undefined {
  if (ipType === 4) {
    const v = Number(ip & 0xffffffffn);
    return [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff].join('.');
  }
  if (ipType === 6) {
    const groups: string[] = [];
    for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((ip >> shift) & 0xffffn).toString(16));
    return compressIpv6(groups);
  }
  return undefined;
}

function compressIpv6(groups: string[]): string {
  // RFC 5952: the longest run (of two or more) of zero groups becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

/** The chain's integer form of an IP address (the SDK's `ip_to_int`), or an error text. */
export function ipToChain(address: string): { ip: bigint; ipType: 4 | 6 } | { error: string } {
  const family = isIP(address);
  if (family === 4) {
    const ip = address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { ip, ipType: 4 };
  }
  if (family === 6) {
    const groups = expandIpv6(address);
    if (!groups) return { error: `"${address}" is not an IPv6 address this indexer can encode` };
    return { ip: groups.reduce((acc, group) => (acc << 16n) | BigInt(group), 0n), ipType: 6 };
  }
  return { error: `"${address}" is not an IP address; the chain stores numeric IPv4 or IPv6 only` };
}

function expandIpv6(address: string): number[] | undefined {
  let text = address;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const parts = v4[1].split('.').map(Number);
    text = `${text.slice(0, -v4[1].length)}${((parts[0] << 8) | parts[1]).toString(16)}:${((parts[2] << 8) | parts[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const groups = [
    ...headGroups,
    ...Array<string>(tail === undefined ? 0 : missing).fill('0'),
    ...tailGroups,
  ].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff)
    ? groups
    : undefined;
}

/**
 * Why an address must not be served on chain, or undefined when it may. The
 * chain itself rejects 127.0.0.1; the other ranges are equally useless to a
 * validator on another machine.
 */
export function unservableReason(address: string): string | undefined {
  const encoded = ipToChain(address);
  if ('error' in encoded) return encoded.error;
  if (encoded.ipType === 4) {
    const first = Number(encoded.ip >> 24n);
    if (first === 127) return 'loopback addresses (127.0.0.0/8) cannot be served';
    if (encoded.ip === 0n) return '0.0.0.0 cannot be served';
    return undefined;
  }
  if (encoded.ip === 0n) return ':: cannot be served';
  if (encoded.ip === 1n) return 'loopback address ::1 cannot be served';
  if (encoded.ip >> 32n === 0xffffn && Number((encoded.ip >> 24n) & 0xffn) === 127)
    return 'IPv4-mapped loopback cannot be served';
  return undefined;
}
