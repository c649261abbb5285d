/** Outcome of waiting for a slot. */
export type AdmissionResult = 'granted' | 'expired' | 'aborted' | 'closed';

export interface AdmissionTicket {
  /** Resolves when the job may run, or when its wait is over without a slot. */
  readonly granted: Promise<AdmissionResult>;
  /** 1 for the next job to get a slot, 0 once it has one. */
  position(): number;
  /** Gives the slot back (or the place in the queue); idempotent. */
  release(): void;
}

/** One job from `enter` to `release`. */
interface Entry {
  state: 'waiting' | 'holding' | 'done';
  /** When it got its slot. */
  since: number;
  grant: (result: AdmissionResult) => void;
  timer?: NodeJS.Timeout;
  detach?: () => void;
}

export interface AdmissionOptions {
  /** Jobs run at once. */
  slots: number;
  /** Jobs allowed to wait for a slot; beyond it `enter` refuses. */
  maxWaiting: number;
  /** Longest wait for a slot. */
  maxWaitMs: number;
}

/**
 * The validator's admission control: `slots` jobs run at once, up to
 * `maxWaiting` more wait in arrival order for at most `maxWaitMs` (or until
 * their own deadline), so a burst is served a little later instead of being
 * refused. When the queue is full, `retryAfterSeconds` estimates when a place
 * frees up from how long jobs have recently held their slots.
 */
export class AdmissionQueue {
  private runningCount = 0;
  private readonly waiting: Entry[] = [];
  private closed = false;
  /** Moving average of how long a job holds its slot, for Retry-After. */
  private holdMs = 2000;

  constructor(private readonly options: AdmissionOptions) {}

  get running(): number {
    return this.runningCount;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** A slot now, a place in the queue, or undefined when the queue is full (or closed). */
  enter(signal: AbortSignal, deadline: number): AdmissionTicket | undefined {
    if (this.closed) return undefined;
    let grant!: (result: AdmissionResult) => void;
    const granted = new Promise<AdmissionResult>((resolve) => (grant = resolve));
    const entry: Entry = { state: 'waiting', since: 0, grant };
    if (this.runningCount < this.options.slots && this.waiting.length === 0) {
      this.hold(entry);
    } else {
      if (this.waiting.length >= this.options.maxWaiting) return undefined;
      const waitMs = Math.max(0, Math.min(this.options.maxWaitMs, deadline - Date.now()));
      entry.timer = setTimeout(() => this.leave(entry, 'expired'), waitMs);
      const onAbort = () => this.leave(entry, 'aborted');
      signal.addEventListener('abort', onAbort, { once: true });
      entry.detach = () => signal.removeEventListener('abort', onAbort);
      this.waiting.push(entry);
    }
    return {
      granted,
      position: () => (entry.state === 'waiting' ? this.waiting.indexOf(entry) + 1 : 0),
      release: () => this.release(entry),
    };
  }

  /** Shutting down: the waiting jobs are told at once (to go elsewhere), no new one is taken; running ones finish. */
  close(): void {
    this.closed = true;
    for (const entry of [...this.waiting]) this.leave(entry, 'closed');
  }

  /** Seconds until a place in a full queue is likely to free up: the queue ahead divided among the slots. */
  retryAfterSeconds(): number {
    const ahead = this.waiting.length + 1;
    const seconds = (ahead / this.options.slots) * (this.holdMs / 1000);
    return Math.min(60, Math.max(1, Math.ceil(seconds)));
  }

  /** The slot is taken synchronously, so a job arriving meanwhile cannot jump the queue. */
  private hold(entry: Entry): void {
    clearTimeout(entry.timer);
    entry.detach?.();
    entry.state = 'holding';
    entry.since = Date.now();
    this.runningCount++;
    entry.grant('granted');
  }

  private release(entry: Entry): void {
    if (entry.state === 'waiting') return this.leave(entry, 'aborted');
    if (entry.state !== 'holding') return;
    entry.state = 'done';
    this.holdMs = 0.9 * this.holdMs + 0.1 * (Date.now() - entry.since);
    this.runningCount--;
    while (this.runningCount < this.options.slots && this.waiting.length > 0)
      this.hold(this.waiting.shift()!);
  }

  private leave(entry: Entry, result: AdmissionResult): void {
    const index = this.waiting.indexOf(entry);
    if (index < 0) return;
    this.waiting.splice(index, 1);
    clearTimeout(entry.timer);
    entry.detach?.();
    entry.state = 'done';
    entry.grant(result);
  }
}
