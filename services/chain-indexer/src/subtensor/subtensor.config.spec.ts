import { ConfigError } from '@chattensor/common';
import { loadSubtensorConfig } from './subtensor.config';
import { backoffDelay } from './chain-connection';
import { nextBlocks } from './chain-follower.service';

describe('loadSubtensorConfig', () => {
  it('reads the endpoint list, the followed netuids and the hotkey source', () => {
    const config = loadSubtensorConfig({ SUBTENSOR_WS: 'ws://a:9944, wss://b', NETUID: '3', SUBTENSOR_NETUIDS: '5,3', HOTKEY_URI: '//Alice' });
    expect(config.endpoints).toEqual(['ws://a:9944', 'wss://b']);
    expect(config.netuids).toEqual([3, 5]);
    expect(config.hotkey?.uri).toBe('//Alice');
  });

  it('is read-only without a hotkey', () => {
    expect(loadSubtensorConfig({ SUBTENSOR_WS: 'ws://a' }).hotkey).toBeUndefined();
  });

  it('names the variable when the endpoint is missing or a netuid is not one', () => {
    expect(() => loadSubtensorConfig({})).toThrow(ConfigError);
    expect(() => loadSubtensorConfig({})).toThrow(/SUBTENSOR_WS/);
    expect(() => loadSubtensorConfig({ SUBTENSOR_WS: 'http://a' })).toThrow(/SUBTENSOR_WS/);
    expect(() => loadSubtensorConfig({ SUBTENSOR_WS: 'ws://a', SUBTENSOR_NETUIDS: 'x' })).toThrow(/SUBTENSOR_NETUIDS/);
  });
});

describe('block and reconnect arithmetic', () => {
  it('starts at the head on a first start and after the last processed block afterwards', () => {
    expect(nextBlocks(undefined, 100, 200)).toEqual({ from: 100, skipped: 0 });
    expect(nextBlocks(97, 100, 200)).toEqual({ from: 98, skipped: 0 });
    expect(nextBlocks(100, 100, 200)).toEqual({ from: 101, skipped: 0 });
  });

  it('skips, and counts, what lies beyond the catch-up window after a long outage', () => {
    expect(nextBlocks(10, 1000, 200)).toEqual({ from: 801, skipped: 790 });
  });

  it('backs off exponentially up to the cap', () => {
    expect(backoffDelay(0, 500, 30_000, () => 1)).toBe(500);
    expect(backoffDelay(3, 500, 30_000, () => 1)).toBe(4000);
    expect(backoffDelay(20, 500, 30_000, () => 1)).toBe(30_000);
    expect(backoffDelay(5, 500, 30_000, () => 0)).toBe(500);
  });
});
