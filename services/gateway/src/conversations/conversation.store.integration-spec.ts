import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { ErrorCode, RedisService } from '@chattensor/common';
import { GATEWAY_CONFIG } from '../config/config.token';
import { loadGatewayConfig } from '../config/gateway.config';
import { ConversationStore, type StoredMessage } from './conversation.store';

describe('the conversation store', () => {
  let redis: Redis;
  let store: ConversationStore;
  const owner = `owner-${Math.random().toString(36).slice(2)}`;
  const turn = (role: StoredMessage['role'], content: string): StoredMessage => ({
    role,
    content,
    at: Date.now(),
  });

  beforeAll(async () => {
    redis = new Redis(process.env.REDIS_URL!);
    const config = loadGatewayConfig({ CONVERSATION_TTL_SECONDS: '3600', CONVERSATION_MAX_MESSAGES: '6' });
    const module = await Test.createTestingModule({
      providers: [
        ConversationStore,
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: RedisService, useValue: { client: redis } },
      ],
    }).compile();
    store = module.get(ConversationStore);
  });

  afterAll(() => redis.disconnect());

  it('appends exchanges in order, titles the conversation after its first question and sets the TTLs', async () => {
    const { id } = await store.create(owner);
    await store.append(id, owner, [turn('user', 'What is   Bittensor?'), turn('assistant', 'A network.')]);
    await store.append(id, owner, [turn('user', 'And TAO?'), turn('assistant', 'Its token.')]);
    expect((await store.messages(id, owner)).map((m) => m.content)).toEqual([
      'What is   Bittensor?',
      'A network.',
      'And TAO?',
      'Its token.',
    ]);
    expect((await store.get(id, owner)).title).toBe('What is Bittensor?');
    const ttl = await redis.ttl(`chattensor:gateway:conversation:${id}:messages`);
    expect(ttl).toBeGreaterThan(3500);
    expect((await store.list(owner))[0].id).toBe(id);
  });

  it('replaces the last answer when regenerating', async () => {
    const { id } = await store.create(owner);
    await store.append(id, owner, [turn('user', 'Q'), turn('assistant', 'first try')]);
    await store.append(id, owner, [turn('assistant', 'second try')], { replaceLastAnswer: true });
    expect((await store.messages(id, owner)).map((m) => m.content)).toEqual(['Q', 'second try']);
  });

  it('keeps only the newest CONVERSATION_MAX_MESSAGES messages', async () => {
    const { id } = await store.create(owner);
    for (let i = 0; i < 5; i++)
      await store.append(id, owner, [turn('user', `q${i}`), turn('assistant', `a${i}`)]);
    expect((await store.messages(id, owner)).map((m) => m.content)).toEqual([
      'q2',
      'a2',
      'q3',
      'a3',
      'q4',
      'a4',
    ]);
  });

  it('refuses another owner and does not resurrect a deleted conversation', async () => {
    const { id } = await store.create(owner);
    await expect(store.append(id, 'someone-else', [turn('user', 'x')])).rejects.toMatchObject({
      code: ErrorCode.NotFound,
    });
    await expect(store.messages(id, 'someone-else')).rejects.toMatchObject({ code: ErrorCode.NotFound });
    await store.delete(id, owner);
    await expect(store.append(id, owner, [turn('user', 'late answer')])).rejects.toMatchObject({
      code: ErrorCode.NotFound,
    });
    expect(await redis.exists(`chattensor:gateway:conversation:${id}:messages`)).toBe(0);
  });

  it('writes nothing of an exchange whose conversation is gone, even when many race', async () => {
    const { id } = await store.create(owner);
    const appends = Array.from({ length: 20 }, (_, i) =>
      store.append(id, owner, [turn('user', `u${i}`), turn('assistant', `a${i}`)]).then(
        () => true,
        () => false,
      ),
    );
    const deletion = store.delete(id, owner);
    await Promise.all([...appends, deletion]);
    // Whatever interleaving happened, nothing was written after the deletion.
    expect(
      await redis.exists(
        `chattensor:gateway:conversation:${id}:messages`,
        `chattensor:gateway:conversation:${id}`,
      ),
    ).toBe(0);
  });
});
