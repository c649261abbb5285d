import type { IncomingMessage } from 'node:http';

/**
 * The caller's address for the anonymous tier's limits. X-Forwarded-For is
 * only believed as far as `trustedHops` proxies of our own appended to it:
 * the entry that many places from the right is the client. Anything left of
 * it was written by the client and could be forged to dodge the limits.
 */
export function clientIp(request: IncomingMessage, trustedHops: number): string {
  const socketAddress = request.socket?.remoteAddress ?? 'unknown';
  if (trustedHops <= 0) return normalise(socketAddress);
  const header = request.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (hops.length === 0) return normalise(socketAddress);
  return normalise(hops[Math.max(0, hops.length - trustedHops)]);
}

function normalise(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
