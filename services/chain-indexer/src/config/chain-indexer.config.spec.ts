import { ConfigError } from '@chattensor/common';
import { readmeVariables } from '../../../../test/support/config-table';
import { chainIndexerEnvSchema, loadChainIndexerConfig } from './chain-indexer.config';

describe('the chain-indexer configuration', () => {
  it('loads in standalone mode with no variables at all', () => {
    expect(loadChainIndexerConfig({})).toMatchObject({
      chainMode: 'local',
      subtensor: undefined,
      query: { port: 9301 },
    });
  });

  it('lets the query API answer for NETUID and, in chain mode, SUBTENSOR_NETUIDS only', () => {
    expect(loadChainIndexerConfig({ NETUID: '3', SUBTENSOR_NETUIDS: '4' }).query.followedNetuids).toEqual([
      3,
    ]);
    const chain = loadChainIndexerConfig({
      CHAIN_MODE: 'subtensor',
      SUBTENSOR_WS: 'ws://node:9944',
      NETUID: '3',
      SUBTENSOR_NETUIDS: '4,5,3',
    });
    expect(chain.query.followedNetuids).toEqual([3, 4, 5]);
    expect(chain.subtensor!.netuids).toEqual(chain.query.followedNetuids);
  });

  it('requires a node endpoint in chain mode, naming SUBTENSOR_WS', () => {
    expect(() => loadChainIndexerConfig({ CHAIN_MODE: 'subtensor' })).toThrow(/SUBTENSOR_WS/);
  });

  it('names an endpoint that is not a websocket URL', () => {
    try {
      loadChainIndexerConfig({ CHAIN_MODE: 'subtensor', SUBTENSOR_WS: 'http://node:9944' });
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues[0].variable).toBe('SUBTENSOR_WS');
    }
  });

  it('documents every variable it reads in the README', () => {
    expect(readmeVariables('chain-indexer').sort()).toEqual(Object.keys(chainIndexerEnvSchema.shape).sort());
  });
});
