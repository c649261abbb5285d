import { ConfigError } from '@chattensor/common';
import { loadAxonConfig } from './axon.config';

describe('loadAxonConfig', () => {
  it('serves the axon on the SDK port by default when following a real chain', () => {
    expect(loadAxonConfig({ CHAIN_MODE: 'subtensor' })).toEqual({
      enabled: true,
      host: '0.0.0.0',
      port: 8091,
      maxTimeoutSeconds: 120,
      bodyLimitBytes: 1024 * 1024,
      legacySdk10: false,
      nonceRedisUrl: undefined,
    });
  });

  it('keeps the axon off in standalone mode unless asked for', () => {
    expect(loadAxonConfig({}).enabled).toBe(false);
    expect(loadAxonConfig({ AXON_ENABLED: 'true', AXON_PORT: '9000' })).toMatchObject({
      enabled: true,
      port: 9000,
    });
    expect(loadAxonConfig({ CHAIN_MODE: 'subtensor', AXON_ENABLED: 'false' }).enabled).toBe(false);
  });

  it('names the variable when a value is wrong', () => {
    expect(() => loadAxonConfig({ AXON_PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadAxonConfig({ AXON_PORT: 'eighty' })).toThrow(/AXON_PORT/);
  });
});
