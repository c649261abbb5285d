import { Redis } from 'ioredis';
import { ReadinessRegistry, RedisService } from '@chattensor/common';
import { ScoreHistory } from './score-history';

describe('the score history in Redis', () => {
  const clients: Redis[] = [];
  /** A replica's view: its own connection to the shared Redis. */
  const replica = (netuid: number, intervalMs = 1000, length = 3) => {
    const client = new Redis(process.env.REDIS_URL!);
    clients.push(client);
    return new ScoreHistory(new RedisService(client, new ReadinessRegistry()), {
      netuid,
      scoreHistory: { intervalMs, length },
    });
  };
  const netuid = () => 50_000 + Math.floor(Math.random() * 10_000);

  afterAll(() => {
    for (const client of clients) client.disconnect();
  });

  it('keeps one sample per interval and only the most recent ones', async () => {
    const history = replica(netuid(), 1000, 3);
    for (let t = 0; t < 5000; t += 500) await history.observe([{ uid: 1, hotkey: 'a', score: t / 1000 }], t);
    expect(await history.of([{ uid: 1, hotkey: 'a' }])).toEqual([[2, 3, 4]]);
  });

  it('gives every replica, and one started afterwards, the same curve, sampled once per interval between them', async () => {
    const id = netuid();
    const [first, second] = [replica(id, 1000, 10), replica(id, 1000, 10)];
    const miners = [
      { uid: 0, hotkey: 'honest', score: 0.25 },
      { uid: 1, hotkey: 'cheater', score: 0 },
    ];
    // Both replicas report at the same moments: only one of them adds each interval's sample.
    for (const t of [0, 400, 1000, 1300, 2100]) {
      const added = await Promise.all([
        first.observe(
          miners.map((m) => ({ ...m, score: m.score + t / 10_000 })),
          t,
        ),
        second.observe(
          miners.map((m) => ({ ...m, score: m.score + t / 10_000 })),
          t + 5,
        ),
      ]);
      expect(added.filter(Boolean).length).toBeLessThanOrEqual(1);
    }
    const expected = miners.map((m) => [0, 1000, 2100].map((t) => m.score + t / 10_000));
    expect(await first.of(miners)).toEqual(expected);
    expect(await second.of(miners)).toEqual(expected);
    // A replica that restarts (a new process, a new connection) draws the same chart at once.
    expect(await replica(id, 1000, 10).of(miners)).toEqual(expected);
  });

  it('starts a new curve for a uid that changed hands, and lets a curve expire after a chart span without samples', async () => {
    const id = netuid();
    const history = replica(id, 1000, 5);
    await history.observe([{ uid: 1, hotkey: 'a', score: 0.5 }], 0);
    await history.observe([{ uid: 1, hotkey: 'b', score: 0.1 }], 1000);
    expect(
      await history.of([
        { uid: 1, hotkey: 'a' },
        { uid: 1, hotkey: 'b' },
      ]),
    ).toEqual([[0.5], [0.1]]);
    const redis = clients[clients.length - 1];
    const ttl = await redis.pttl(`chattensor:validator:score-history:${id}:1:a`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5 * 1000);
    expect(await history.of([{ uid: 2, hotkey: 'never-seen' }])).toEqual([[]]);
  });

  it("forgets every curve of a gone subnet and none of another subnet's", async () => {
    const [gone, other] = [netuid(), netuid()];
    const history = replica(gone, 1000, 5);
    const neighbour = replica(other, 1000, 5);
    await history.observe(
      [
        { uid: 1, hotkey: 'a', score: 0.5 },
        { uid: 2, hotkey: 'b', score: 0.4 },
      ],
      0,
    );
    await neighbour.observe([{ uid: 1, hotkey: 'a', score: 0.3 }], 0);
    await history.forgetAll();
    expect(
      await history.of([
        { uid: 1, hotkey: 'a' },
        { uid: 2, hotkey: 'b' },
      ]),
    ).toEqual([[], []]);
    expect(await neighbour.of([{ uid: 1, hotkey: 'a' }])).toEqual([[0.3]]);
    // A new lineage under the netuid samples again at once.
    expect(await history.observe([{ uid: 1, hotkey: 'c', score: 0.2 }], 100)).toBe(true);
  });
});
