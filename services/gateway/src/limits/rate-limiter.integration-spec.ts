import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { AppError, ErrorCode } from '@chattensor/common';
import { RateLimiter } from './rate-limiter';

describe('the Redis token-bucket rate limiter', () => {
  let redisA: Redis;
  let redisB: Redis;

  beforeAll(() => {
    redisA = new Redis(process.env.REDIS_URL!);
    redisB = new Redis(process.env.REDIS_URL!);
  });

  afterAll(() => {
    redisA.disconnect();
    redisB.disconnect();
  });

  const subject = () => `test:${randomUUID()}`;
  const outcome = (promise: Promise<unknown>) =>
    promise.then(
      () => 'admitted',
      (error: unknown) => (AppError.is(error, ErrorCode.RateLimited) ? 'limited' : error),
    );

  it('admits exactly the requests per minute across two replicas racing for one bucket', async () => {
    // Two limiters on two connections stand for two gateway replicas.
    const replicas = [new RateLimiter(redisA), new RateLimiter(redisB)];
    const who = subject();
    const limits = { requestsPerMinute: 25, tokensPerMinute: 1_000_000 };
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => outcome(replicas[i % 2].admit(who, limits, 1))),
    );
    expect(results.filter((r) => r === 'admitted')).toHaveLength(25);
    expect(results.filter((r) => r === 'limited')).toHaveLength(35);
  });

  it('says how long to wait, and the remaining allowance', async () => {
    const limiter = new RateLimiter(redisA);
    const who = subject();
    const limits = { requestsPerMinute: 2, tokensPerMinute: 1000 };
    const first = await limiter.admit(who, limits, 100);
    expect(first).toMatchObject({ remainingRequests: 1, remainingTokens: 900 });
    await limiter.admit(who, limits, 100);
    const error = await limiter.admit(who, limits, 100).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: ErrorCode.RateLimited, reason: 'rate_limit_exceeded' });
    // Two per minute refill one request every 30 s.
    expect((error as AppError).retryAfterSeconds).toBeGreaterThanOrEqual(29);
    expect((error as AppError).retryAfterSeconds).toBeLessThanOrEqual(30);
  });

  it('refuses while usage charged after an answer has emptied the token bucket, and refunds on a negative charge', async () => {
    const limiter = new RateLimiter(redisA);
    const who = subject();
    const limits = { requestsPerMinute: 100, tokensPerMinute: 600 };
    await limiter.admit(who, limits, 10);
    await limiter.charge(who, limits, 700);
    const error = await limiter.admit(who, limits, 10).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.RateLimited });
    expect((error as AppError).message).toContain('600 tokens per minute');
    await limiter.charge(who, limits, -700);
    await expect(limiter.admit(who, limits, 10)).resolves.toMatchObject({ remainingRequests: 98 });
  });

  it('lets a request larger than the whole token bucket through once the bucket is full', async () => {
    const limiter = new RateLimiter(redisA);
    const who = subject();
    const limits = { requestsPerMinute: 100, tokensPerMinute: 50 };
    await expect(limiter.admit(who, limits, 500)).resolves.toMatchObject({ remainingTokens: 0 });
    await expect(limiter.admit(who, limits, 1)).rejects.toMatchObject({ code: ErrorCode.RateLimited });
  });

  it('keeps its buckets under a TTL', async () => {
    const limiter = new RateLimiter(redisA);
    const who = subject();
    await limiter.admit(who, { requestsPerMinute: 5, tokensPerMinute: 5 }, 1);
    const keys = await redisA.keys(`chattensor:gateway:ratelimit:{${who}}:*`);
    expect(keys).toHaveLength(2);
    for (const key of keys) expect(await redisA.pttl(key)).toBeGreaterThan(0);
  });
});
