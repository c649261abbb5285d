import { unservableReason } from './axon.util';

describe('unservableReason', () => {
  it('accepts routable IPv4 and IPv6 addresses', () => {
    expect(unservableReason('10.0.0.1')).toBeUndefined();
    expect(unservableReason('203.0.113.9')).toBeUndefined();
    expect(unservableReason('2001:db8::7')).toBeUndefined();
  });

  it('refuses loopback, unspecified and host names, which the chain cannot use', () => {
    expect(unservableReason('127.0.0.1')).toMatch(/loopback/);
    expect(unservableReason('127.1.2.3')).toMatch(/loopback/);
    expect(unservableReason('0.0.0.0')).toMatch(/0\.0\.0\.0/);
    expect(unservableReason('::1')).toMatch(/loopback/);
    expect(unservableReason('::')).toMatch(/cannot be served/);
    expect(unservableReason('::ffff:127.0.0.1')).toMatch(/loopback/);
    expect(unservableReason('miner.example')).toMatch(/not an IP address/);
  });
});
