/**
 * Recent scores of each miner for the status page's chart: one sample per
 * interval, the last `length` kept, in this replica's memory (every replica
 * reads the same shared scores, so any one of them draws the same curve).
 */
export class ScoreHistory {
  private readonly samples = new Map<string, number[]>();
  private lastSampleAt = -Infinity;

  constructor(
    readonly intervalMs = 30_000,
    private readonly length = 60,
  ) {}

  /** Adds a sample per miner when an interval has passed since the last one. */
  observe(scores: { uid: number; hotkey: string; score: number }[], now = Date.now()): void {
    if (now - this.lastSampleAt < this.intervalMs) return;
    this.lastSampleAt = now;
    const seen = new Set<string>();
    for (const s of scores) {
      const key = `${s.uid}:${s.hotkey}`;
      seen.add(key);
      const series = this.samples.get(key) ?? [];
      series.push(s.score);
      if (series.length > this.length) series.shift();
      this.samples.set(key, series);
    }
    // A miner that left the metagraph (or a uid that changed hands) starts over.
    for (const key of this.samples.keys()) if (!seen.has(key)) this.samples.delete(key);
  }

  of(uid: number, hotkey: string): number[] {
    return [...(this.samples.get(`${uid}:${hotkey}`) ?? [])];
  }
}
