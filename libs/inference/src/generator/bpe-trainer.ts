import { BYTE_LEVEL_ALPHABET, bytesToByteLevel, compileSplitPattern, splitWithPattern } from '../tokenizer/byte-level';

export interface TrainedBpe {
  /** Token strings in id order (byte alphabet first, then one per merge). */
  tokens: string[];
  /** Merge rules in priority order. */
  merges: [string, string][];
}

/**
 * Trains byte-level BPE merges the way Hugging Face's BpeTrainer does: count
 * adjacent symbol pairs over the pre-tokenized word frequencies, merge the
 * most frequent pair, repeat. Ties break on the pair's text so that the
 * result is the same on every run and platform.
 */
export function trainByteLevelBpe(corpus: string, splitPattern: string, maxMerges: number, minFrequency = 2): TrainedBpe {
  const regex = compileSplitPattern(splitPattern);
  const wordCounts = new Map<string, number>();
  for (const piece of splitWithPattern(corpus, regex)) {
    const word = bytesToByteLevel(piece);
    wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
  }
  const words = [...wordCounts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([word, count]) => ({ symbols: [...word], count }));

  const tokens = [...BYTE_LEVEL_ALPHABET];
  const known = new Set(tokens);
  const merges: [string, string][] = [];
  const separator = '\u0000';
  while (merges.length < maxMerges) {
    const pairCounts = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = symbols[i] + separator + symbols[i + 1];
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + count);
      }
    }
    let best: string | undefined;
    let bestCount = 0;
    for (const [key, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    if (best === undefined || bestCount < minFrequency) break;
    const [left, right] = best.split(separator) as [string, string];
    const merged = left + right;
    merges.push([left, right]);
    // Different merges can spell the same string ("a"+"bc", "ab"+"c"); the vocabulary keeps one id for it.
    if (!known.has(merged)) {
      known.add(merged);
      tokens.push(merged);
    }
    for (const word of words) {
      const { symbols } = word;
      if (symbols.length < 2) continue;
      let out: string[] | undefined;
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
          out ??= symbols.slice(0, i);
          out.push(merged);
          i++;
        } else if (out) out.push(symbols[i]);
      }
      if (out) word.symbols = out;
    }
  }
  return { tokens, merges };
}
