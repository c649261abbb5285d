import { Redis } from 'ioredis';
import { ErrorCode } from '@chattensor/common';
import { ApiKeyStore, hashApiKey } from './api-key.store';

describe('the API key store', () => {
  let redis: Redis;
  let store: ApiKeyStore;
  const limits = { requestsPerMinute: 10, tokensPerMinute: 1000 };

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    store = new ApiKeyStore(redis);
  });

  afterAll(() => redis.disconnect());

  it('stores a new key only as its SHA-256 and recognises it', async () => {
    const { key, record } = await store.create('integration', limits);
    expect(key).toMatch(/^ct-[\w-]{43}$/);
    const stored = await redis.hgetall(`chattensor:gateway:apikey:${hashApiKey(key)}`);
    expect(stored.id).toBe(record.id);
    expect(Object.values(stored).join(' ')).not.toContain(key.slice(3));
    expect(await store.verify(key)).toEqual(record);
    expect(record.hint).toBe(`${key.slice(0, 7)}...${key.slice(-4)}`);
  });

  it('does not recognise a key with one character changed, or a malformed one', async () => {
    const { key } = await store.create('typo', limits);
    const typo = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    expect(await store.verify(typo)).toBeUndefined();
    expect(await store.verify('ct-short')).toBeUndefined();
    expect(await store.verify('sk-something-else')).toBeUndefined();
  });

  it('lists keys without the keys themselves and revokes them by id', async () => {
    const { key, record } = await store.create('to revoke', limits);
    expect((await store.list()).map((r) => r.id)).toContain(record.id);
    expect(JSON.stringify(await store.list())).not.toContain(key);
    await store.revoke(record.id);
    expect(await store.verify(key)).toBeUndefined();
    expect((await store.list()).map((r) => r.id)).not.toContain(record.id);
    await expect(store.revoke(record.id)).rejects.toMatchObject({ code: ErrorCode.NotFound });
  });
});
