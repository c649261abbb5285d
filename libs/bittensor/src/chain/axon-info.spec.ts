import { BITTENSOR_VERSION_AS_INT, intToIp, ipString, ipToInt, isServing, versionAsInt } from './axon-info';

describe('axon info', () => {
  it('encodes versions as the SDK version_as_int', () => {
    expect(versionAsInt('10.5.0')).toBe(10005000);
    expect(versionAsInt('7.2.0')).toBe(7002000);
    expect(BITTENSOR_VERSION_AS_INT).toBe(10005000);
    expect(() => versionAsInt('1.2')).toThrow();
  });

  it('maps IP addresses to the chain integer and back as netaddr does', () => {
    expect(ipToInt('1.2.3.4')).toEqual({ ip: 16909060n, ipType: 4 });
    expect(intToIp(16909060n)).toBe('1.2.3.4');
    expect(ipToInt('2001:db8::1')).toEqual({ ip: 42540766411282592856903984951653826561n, ipType: 6 });
    expect(intToIp(42540766411282592856903984951653826561n)).toBe('2001:db8::1');
    expect(intToIp(ipToInt('::ffff:1.2.3.4').ip)).toBe('::ffff:1.2.3.4');
    expect(intToIp(ipToInt('1:0:0:2:0:0:3:4').ip)).toBe('1::2:0:0:3:4');
    expect(() => ipToInt('300.1.1.1')).toThrow();
  });

  it('formats and tells serving axons as the SDK does', () => {
    expect(ipString(4, '1.2.3.4', 8091)).toBe('/ipv4/1.2.3.4:8091');
    expect(isServing({ ip: '0.0.0.0' })).toBe(false);
  });
});
