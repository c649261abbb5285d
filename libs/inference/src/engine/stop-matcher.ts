/**
 * Finds stop sequences in streamed text. Text that could still be the start
 * of a stop sequence is held back, so a stop string split across tokens is
 * never emitted, and the text before it always is.
 */
export class StopSequenceMatcher {
  private pending = '';
  private readonly holdBack: number;

  constructor(private readonly stops: readonly string[]) {
    this.holdBack = stops.reduce((longest, stop) => Math.max(longest, stop.length), 0) - 1;
  }

  /** Adds a text delta; returns the text safe to emit and whether a stop sequence was hit. */
  push(delta: string): { text: string; stopped: boolean } {
    if (this.stops.length === 0) return { text: delta, stopped: false };
    this.pending += delta;
    let earliest = -1;
    for (const stop of this.stops) {
      const index = this.pending.indexOf(stop);
      if (index >= 0 && (earliest < 0 || index < earliest)) earliest = index;
    }
    if (earliest >= 0) {
      const text = this.pending.slice(0, earliest);
      this.pending = '';
      return { text, stopped: true };
    }
    // Keep only the tail that is a prefix of some stop sequence.
    let keep = 0;
    for (let length = Math.min(this.holdBack, this.pending.length); length > 0; length--) {
      const tail = this.pending.slice(this.pending.length - length);
      if (this.stops.some((stop) => stop.startsWith(tail))) {
        keep = length;
        break;
      }
    }
    // Never cut a surrogate pair in half.
    let cut = this.pending.length - keep;
    if (cut > 0 && cut < this.pending.length && isHighSurrogate(this.pending.charCodeAt(cut - 1))) cut--;
    const text = this.pending.slice(0, cut);
    this.pending = this.pending.slice(cut);
    return { text, stopped: false };
  }

  /** Releases held-back text at the end of generation. */
  flush(): string {
    const text = this.pending;
    this.pending = '';
    return text;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
