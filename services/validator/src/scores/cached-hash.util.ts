/**
 * A Redis hash of numbers read at most once per `ttlMs` (concurrent readers
 * share one read); a failed read is not kept, and `invalidate()` after a
 * write makes the next read see it.
 */
export class CachedNumberHash {
  private cache?: { at: number; values: Promise<Map<string, number>> };

  constructor(
    private readonly read: () => Promise<Record<string, string>>,
    private readonly ttlMs: number,
  ) {}

  get(): Promise<Map<string, number>> {
    if (this.cache && Date.now() - this.cache.at < this.ttlMs) return this.cache.values;
    const values = this.read().then(
      (raw) => new Map(Object.entries(raw).map(([field, value]) => [field, Number(value)])),
    );
    const entry = { at: Date.now(), values };
    this.cache = entry;
    values.catch(() => {
      if (this.cache === entry) this.cache = undefined;
    });
    return values;
  }

  invalidate(): void {
    this.cache = undefined;
  }
}
