import { AdmissionQueue } from './admission-queue';

describe('AdmissionQueue', () => {
  const far = () => Date.now() + 60_000;

  it('runs up to its slots at once and lets the next waiting job in, in arrival order, when one ends', async () => {
    const queue = new AdmissionQueue({ slots: 2, maxWaiting: 10, maxWaitMs: 60_000 });
    const never = new AbortController().signal;
    const [a, b, c, d] = [0, 1, 2, 3].map(() => queue.enter(never, far())!);
    expect(await Promise.race([a.granted, b.granted])).toBe('granted');
    expect({ running: queue.running, queued: queue.queued }).toEqual({ running: 2, queued: 2 });
    expect([c.position(), d.position()]).toEqual([1, 2]);
    const order: string[] = [];
    void c.granted.then(() => order.push('c'));
    void d.granted.then(() => order.push('d'));
    a.release();
    await c.granted;
    expect(order).toEqual(['c']);
    expect(d.position()).toBe(1);
    b.release();
    await d.granted;
    expect(order).toEqual(['c', 'd']);
    expect(queue.running).toBe(2);
    c.release();
    d.release();
    d.release();
    expect(queue.running).toBe(0);
  });

  it('refuses once the queue is full, with a Retry-After that grows with the queue ahead', () => {
    const queue = new AdmissionQueue({ slots: 1, maxWaiting: 2, maxWaitMs: 60_000 });
    const never = new AbortController().signal;
    queue.enter(never, far());
    const emptyQueue = queue.retryAfterSeconds();
    queue.enter(never, far());
    queue.enter(never, far());
    expect(queue.enter(never, far())).toBeUndefined();
    expect(queue.retryAfterSeconds()).toBeGreaterThanOrEqual(emptyQueue);
    expect(queue.retryAfterSeconds()).toBeGreaterThanOrEqual(1);
  });

  it('gives up a wait at the queue timeout or the job deadline, and on cancellation, freeing the place', async () => {
    const queue = new AdmissionQueue({ slots: 1, maxWaiting: 5, maxWaitMs: 30 });
    const never = new AbortController().signal;
    const holder = queue.enter(never, far())!;
    const timedOut = queue.enter(never, far())!;
    const pastDeadline = queue.enter(never, Date.now() - 1)!;
    const cancel = new AbortController();
    const cancelled = queue.enter(cancel.signal, far())!;
    cancel.abort();
    expect(await cancelled.granted).toBe('aborted');
    expect(await pastDeadline.granted).toBe('expired');
    expect(await timedOut.granted).toBe('expired');
    expect(queue.queued).toBe(0);
    holder.release();
    expect(queue.running).toBe(0);
  });

  it('frees the place of a waiting job that is released before its turn', () => {
    const queue = new AdmissionQueue({ slots: 1, maxWaiting: 5, maxWaitMs: 60_000 });
    const never = new AbortController().signal;
    const holder = queue.enter(never, far())!;
    const waiting = queue.enter(never, far())!;
    waiting.release();
    expect(queue.queued).toBe(0);
    holder.release();
    expect(queue.running).toBe(0);
  });

  it('tells the waiting jobs at once when it closes, and takes no new one', async () => {
    const queue = new AdmissionQueue({ slots: 1, maxWaiting: 5, maxWaitMs: 60_000 });
    const never = new AbortController().signal;
    const holder = queue.enter(never, far())!;
    const waiting = queue.enter(never, far())!;
    queue.close();
    expect(await waiting.granted).toBe('closed');
    expect(queue.enter(never, far())).toBeUndefined();
    holder.release();
    expect(queue.running).toBe(0);
  });
});
