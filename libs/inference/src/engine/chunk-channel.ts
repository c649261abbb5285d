/**
 * A single-consumer async queue: the scheduler pushes chunks as tokens are
 * produced, the caller iterates. Breaking out of the iteration (or abort)
 * marks the channel closed so the scheduler drops the request at its next step.
 */
export class ChunkChannel<T> implements AsyncIterable<T> {
  private readonly buffered: T[] = [];
  private waiter?: { resolve: (result: IteratorResult<T>) => void; reject: (error: Error) => void };
  private ended = false;
  private failure?: { error: Error };
  private consumerGone = false;

  constructor(private readonly onConsumerGone: () => void) {}

  /** True once the consumer stopped listening. */
  get closed(): boolean {
    return this.consumerGone;
  }

  push(value: T): void {
    if (this.ended || this.consumerGone) return;
    if (this.waiter) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve({ value, done: false });
    } else this.buffered.push(value);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.settleWaiter();
  }

  fail(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = { error: isErrorLike(error) ? error : new Error(String(error)) };
    this.buffered.length = 0;
    this.settleWaiter();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const value = this.buffered.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (this.failure) return Promise.reject(this.failure.error);
        if (this.ended || this.consumerGone) return Promise.resolve({ value: undefined, done: true });
        return new Promise<IteratorResult<T>>((resolve, reject) => (this.waiter = { resolve, reject }));
      },
      return: () => {
        this.abandon();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private abandon(): void {
    if (this.consumerGone) return;
    this.consumerGone = true;
    this.buffered.length = 0;
    if (!this.ended) this.onConsumerGone();
  }

  private settleWaiter(): void {
    if (!this.waiter) return;
    const { resolve, reject } = this.waiter;
    this.waiter = undefined;
    if (this.failure) reject(this.failure.error);
    else resolve({ value: undefined, done: true });
  }
}

// Abort reasons are DOMExceptions, which may come from another realm (and so fail instanceof Error).
function isErrorLike(value: unknown): value is Error {
  return value instanceof Error || (typeof value === 'object' && value !== null && 'name' in value && 'message' in value);
}
