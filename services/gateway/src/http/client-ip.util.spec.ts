import type { IncomingMessage } from 'node:http';
import { clientIp } from './client-ip.util';

const request = (remoteAddress: string, forwardedFor?: string) =>
  ({
    socket: { remoteAddress },
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  }) as unknown as IncomingMessage;

describe('the client address used for anonymous limits', () => {
  it('is the socket address when no proxy is trusted, whatever X-Forwarded-For says', () => {
    expect(clientIp(request('::ffff:10.0.0.9', '1.2.3.4'), 0)).toBe('10.0.0.9');
  });

  it('is the entry our own proxies appended, not one the client wrote', () => {
    // The client forged "6.6.6.6"; our one ingress appended the real address 5.5.5.5.
    expect(clientIp(request('10.0.0.2', '6.6.6.6, 5.5.5.5'), 1)).toBe('5.5.5.5');
    expect(clientIp(request('10.0.0.2', '6.6.6.6, 5.5.5.5, 10.0.0.7'), 2)).toBe('5.5.5.5');
  });

  it('falls back to the socket address without the header, and to the leftmost entry with fewer hops than trusted', () => {
    expect(clientIp(request('10.0.0.2'), 1)).toBe('10.0.0.2');
    expect(clientIp(request('10.0.0.2', '5.5.5.5'), 3)).toBe('5.5.5.5');
  });
});
