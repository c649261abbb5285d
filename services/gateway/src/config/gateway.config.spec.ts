import { ConfigError } from '@chattensor/common';
import { loadGatewayConfig } from './gateway.config';

describe('the gateway configuration', () => {
  it('has defaults that run the demo: anonymous access on, no admin API', () => {
    const config = loadGatewayConfig({});
    expect(config.access).toEqual({
      anonymous: true,
      anonymousLimits: { requestsPerMinute: 60, tokensPerMinute: 40_000 },
      keyDefaultLimits: { requestsPerMinute: 600, tokensPerMinute: 400_000 },
      adminToken: undefined,
      trustProxyHops: 0,
    });
    expect(config.chat.acceptTimeoutMs).toBeLessThan(1000);
    expect(config.http.port).toBe(8080);
  });

  it('reads the access, limit and context variables', () => {
    const config = loadGatewayConfig({
      ANONYMOUS_ACCESS: 'false',
      ADMIN_TOKEN: 'a-long-enough-admin-token',
      ANONYMOUS_REQUESTS_PER_MINUTE: '5',
      KEY_TOKENS_PER_MINUTE: '1000',
      TRUST_PROXY_HOPS: '1',
      CONTEXT_TOKENS: '2048',
      CHARS_PER_TOKEN: '3.5',
      CONVERSATION_MAX_MESSAGES: '50',
      MODEL_DIRS: ' models/a, /srv/b ,',
      SESSION_SECRET: 'x'.repeat(32),
    });
    expect(config.chat.modelDirs).toEqual(['models/a', '/srv/b']);
    expect(config.access.sessionSecret).toBe('x'.repeat(32));
    expect(config.access.anonymous).toBe(false);
    expect(config.access.adminToken).toBe('a-long-enough-admin-token');
    expect(config.access.anonymousLimits.requestsPerMinute).toBe(5);
    expect(config.access.keyDefaultLimits.tokensPerMinute).toBe(1000);
    expect(config.access.trustProxyHops).toBe(1);
    expect(config.conversations).toMatchObject({ contextTokens: 2048, charsPerToken: 3.5, maxMessages: 50 });
  });

  it('names every bad variable', () => {
    expect(() => loadGatewayConfig({ ADMIN_TOKEN: 'short', ANONYMOUS_ACCESS: 'maybe' })).toThrow(ConfigError);
    try {
      loadGatewayConfig({ ADMIN_TOKEN: 'short', ANONYMOUS_ACCESS: 'maybe', SESSION_SECRET: 'too-short' });
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.variable).sort()).toEqual([
        'ADMIN_TOKEN',
        'ANONYMOUS_ACCESS',
        'SESSION_SECRET',
      ]);
    }
  });
});
