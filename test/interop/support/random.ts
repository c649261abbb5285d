import { PyFloat, type PyValue } from '@chattensor/bittensor';

/** A seeded generator (mulberry32) so a failing case can be replayed from its seed. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

// Blocks whose printability is the same in every Unicode version since 6:
// ASCII with its controls and quotes, Latin-1 (NBSP, soft hyphen), Greek,
// Cyrillic, Hebrew (RTL), general punctuation (zero-width and line/paragraph
// separators), CJK, private use, the BOM, long-unassigned points, emoji
// outside the BMP.
const RANGES: readonly [number, number][] = [
  [0x20, 0x7e],
  [0x00, 0x1f],
  [0x7f, 0xbf],
  [0x370, 0x3ff],
  [0x400, 0x4ff],
  [0x5d0, 0x5ea],
  [0x2000, 0x206f],
  [0x4e00, 0x4f00],
  [0xe000, 0xe010],
  [0xfeff, 0xfeff],
  [0x0378, 0x0379],
  [0x1f600, 0x1f64f],
  [0x1d400, 0x1d420],
];
const SPECIAL = ["'", '"', '\\', '\n', '\r', '\t', ' ', '\u00a0', '\u2028', '\u200b'];

export function randomString(rng: Rng, maxLength = 24): string {
  let out = '';
  const length = rng.int(0, maxLength);
  for (let i = 0; i < length; i++) {
    if (rng.chance(0.15)) {
      out += rng.pick(SPECIAL);
    } else {
      const [lo, hi] = rng.pick(RANGES);
      out += String.fromCodePoint(rng.int(lo, hi));
    }
  }
  // Lone surrogates are legal in a Python str (and in JSON escapes).
  if (rng.chance(0.05)) out += String.fromCharCode(rng.int(0xd800, 0xdfff));
  return out;
}

export function randomFloat(rng: Rng): number {
  const kind = rng.int(0, 4);
  if (kind === 0) return rng.next();
  if (kind === 1) return (rng.next() - 0.5) * 10 ** rng.int(-12, 22);
  if (kind === 2) return rng.int(-1000, 1000) / 8;
  if (kind === 3) return Number((rng.next() * 100).toPrecision(rng.int(1, 17)));
  return 10 ** rng.int(-8, 20) * rng.pick([1, -1, 3.5]);
}

/** A random value of the kinds a pydantic model_dump holds. */
export function randomPyValue(rng: Rng, depth = 0): PyValue {
  const kind = depth > 2 ? rng.int(0, 4) : rng.int(0, 6);
  switch (kind) {
    case 0:
      return randomString(rng);
    case 1:
      return rng.chance(0.1) ? BigInt(rng.int(1, 9)) * 10n ** BigInt(rng.int(16, 30)) : rng.int(-1e6, 1e6);
    case 2: {
      const x = randomFloat(rng);
      return Number.isInteger(x) ? new PyFloat(x) : x;
    }
    case 3:
      return rng.chance(0.5);
    case 4:
      return null;
    case 5:
      return Array.from({ length: rng.int(0, 5) }, () => randomPyValue(rng, depth + 1));
    default: {
      const out: Record<string, PyValue> = {};
      for (let i = rng.int(0, 4); i > 0; i--) out[randomString(rng, 8)] = randomPyValue(rng, depth + 1);
      return out;
    }
  }
}
