import { formatReset, rateLimitHeaders } from './rate-limiter';

describe('the x-ratelimit headers', () => {
  it.each([
    [0, '0ms'],
    [20, '20ms'],
    [999.2, '1s'],
    [1000, '1s'],
    [1500, '1.5s'],
    [17_427, '17.427s'],
    [60_000, '1m0s'],
    [360_000, '6m0s'],
    [3_723_000, '1h2m3s'],
  ])('writes a reset of %d ms as OpenAI does: %s', (ms, text) => {
    expect(formatReset(ms)).toBe(text);
  });

  it('reports limits, what is left (never negative) and the resets of both buckets', () => {
    expect(
      rateLimitHeaders({
        limits: { requestsPerMinute: 60, tokensPerMinute: 1000 },
        remainingRequests: 59,
        remainingTokens: 0,
        resetRequestsMs: 1000,
        resetTokensMs: 90_000,
      }),
    ).toEqual({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-limit-tokens': '1000',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-reset-tokens': '1m30s',
    });
  });
});
