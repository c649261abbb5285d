import { isIP } from 'node:net';
import { ipToInt } from '@chattensor/bittensor';

/**
 * Why an address must not be served on chain, or undefined when it may. The
 * chain itself rejects 127.0.0.1; the other ranges are equally useless to a
 * validator on another machine.
 */
export function unservableReason(address: string): string | undefined {
  if (isIP(address) === 0) return `"${address}" is not an IP address; the chain stores numeric IPv4 or IPv6 only`;
  const { ip, ipType } = ipToInt(address);
  if (ipType === 4) {
    if (ip >> 24n === 127n) return 'loopback addresses (127.0.0.0/8) cannot be served';
    if (ip === 0n) return '0.0.0.0 cannot be served';
    return undefined;
  }
  if (ip === 0n) return ':: cannot be served';
  if (ip === 1n) return 'loopback address ::1 cannot be served';
  if (ip >> 32n === 0xffffn && (ip >> 24n) % 256n === 127n) return 'IPv4-mapped loopback cannot be served';
  return undefined;
}
