import { ModelLoadError } from '../errors';
import { byteLevelToBytes, bytesToByteLevel, compileSplitPattern, GPT2_SPLIT_PATTERN, splitWithPattern } from './byte-level';

/* Shapes of the parts of a Hugging Face tokenizer.json this runtime reads. */
interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  single_word?: boolean;
  normalized?: boolean;
}
type ComponentJson = { type: string } & Record<string, unknown>;
interface TokenizerJson {
  added_tokens?: AddedTokenJson[];
  normalizer?: ComponentJson | null;
  pre_tokenizer?: ComponentJson | null;
  decoder?: ComponentJson | null;
  model: ComponentJson & { vocab?: Record<string, number>; merges?: (string | [string, string])[] };
}

type PreTokenizeStep = (pieces: string[]) => string[];
type NormalizeStep = (text: string) => string;

const METASPACE = '\u2581';
const utf8 = new TextEncoder();

/**
 * A BPE tokenizer built from a Hugging Face tokenizer.json: byte-level BPE
 * (GPT-2, Llama 3, Qwen2, SmolLM2) and SentencePiece-style BPE with the ▁
 * word marker and `<0xNN>` byte fallback (Llama 2, Mistral, TinyLlama).
 *
 * Decoding is defined per token as a byte sequence, so that a stream of ids
 * can be turned into text incrementally without ever splitting a UTF-8
 * character (see StreamingDetokenizer).
 */
export class Tokenizer {
  readonly vocabSize: number;
  private readonly vocab = new Map<string, number>();
  private readonly idToToken: string[] = [];
  private readonly mergeRanks = new Map<string, number>();
  private readonly addedTokens: AddedTokenJson[];
  private readonly specialIds = new Set<number>();
  private readonly addedIds = new Map<number, string>();
  private readonly addedPattern?: RegExp;
  private readonly normalize: NormalizeStep;
  private readonly preTokenize: PreTokenizeStep;
  private readonly byteLevel: boolean;
  private readonly byteFallback: boolean;
  private readonly ignoreMerges: boolean;
  private readonly unkId?: number;
  private readonly stripLeadingSpace: boolean;
  private readonly wordCache = new Map<string, number[]>();
  private readonly tokenBytes: (Uint8Array | undefined)[] = [];

  constructor(json: TokenizerJson) {
    const model = json.model;
    if (model.type !== 'BPE') throw new ModelLoadError(`tokenizer.json: unsupported tokenizer model type "${model.type}" (only BPE is supported)`);
    if (!model.vocab || !model.merges) throw new ModelLoadError('tokenizer.json: BPE model has no vocab or merges');
    for (const [token, id] of Object.entries(model.vocab)) {
      this.vocab.set(token, id);
      this.idToToken[id] = token;
    }
    model.merges.forEach((merge, rank) => {
      const [left, right] = typeof merge === 'string' ? splitMerge(merge) : merge;
      this.mergeRanks.set(`${left} ${right}`, rank);
    });
    this.addedTokens = json.added_tokens ?? [];
    for (const token of this.addedTokens) {
      this.idToToken[token.id] = token.content;
      this.addedIds.set(token.id, token.content);
      if (token.special) this.specialIds.add(token.id);
    }
    if (this.addedTokens.length > 0) {
      // Longest first so that overlapping added tokens match greedily, as in Hugging Face.
      const contents = [...this.addedTokens].sort((a, b) => b.content.length - a.content.length).map((token) => escapeRegex(token.content));
      this.addedPattern = new RegExp(contents.join('|'), 'gu');
    }
    this.vocabSize = this.idToToken.length;
    this.byteFallback = model.byte_fallback === true;
    this.ignoreMerges = model.ignore_merges === true;
    const unk = typeof model.unk_token === 'string' ? this.vocab.get(model.unk_token) : undefined;
    this.unkId = unk;
    this.normalize = buildNormalizer(json.normalizer ?? null);
    const pre = buildPreTokenizer(json.pre_tokenizer ?? null);
    this.preTokenize = pre.step;
    this.byteLevel = pre.byteLevel || componentTypes(json.decoder ?? null).includes('ByteLevel');
    this.stripLeadingSpace = decoderStripsLeadingSpace(json.decoder ?? null);
    for (let id = 0; id < this.idToToken.length; id++) this.tokenBytes[id] = this.computeTokenBytes(id);
  }

  static fromJson(text: string): Tokenizer {
    let parsed: TokenizerJson;
    try {
      parsed = JSON.parse(text) as TokenizerJson;
    } catch (error) {
      throw new ModelLoadError(`tokenizer.json is not valid JSON: ${(error as Error).message}`);
    }
    if (!parsed || typeof parsed !== 'object' || !parsed.model) throw new ModelLoadError('tokenizer.json has no "model" section');
    return new Tokenizer(parsed);
  }

  tokenId(token: string): number | undefined {
    return this.vocab.get(token) ?? this.addedTokens.find((added) => added.content === token)?.id;
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** Encodes text without adding BOS/EOS; added tokens written in the text are recognised, as Hugging Face does. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const segment of this.splitOnAddedTokens(text)) {
      if (segment.addedId !== undefined) {
        ids.push(segment.addedId);
        continue;
      }
      if (segment.text.length === 0) continue;
      for (const piece of this.preTokenize([this.normalize(segment.text)])) {
        if (piece.length > 0) for (const id of this.encodeWord(piece)) ids.push(id);
      }
    }
    return ids;
  }

  /** Full decode; the streaming detokenizer yields exactly this text piece by piece. */
  decode(ids: readonly number[], skipSpecialTokens = true): string {
    const stream = new StreamingDetokenizer(this, skipSpecialTokens);
    let text = '';
    for (const id of ids) text += stream.push(id);
    return text + stream.flush();
  }

  /** Raw bytes that a token contributes to decoded text; undefined for ids outside the vocabulary. */
  bytesOf(id: number): Uint8Array | undefined {
    return this.tokenBytes[id];
  }

  /** Whether the decoder drops one leading space at the start of decoded text (SentencePiece-style tokenizers). */
  get stripsLeadingSpace(): boolean {
    return this.stripLeadingSpace;
  }

  private computeTokenBytes(id: number): Uint8Array | undefined {
    const token = this.idToToken[id];
    if (token === undefined) return undefined;
    if (this.addedIds.has(id)) return utf8.encode(token);
    if (this.byteLevel) {
      const bytes = byteLevelToBytes(token);
      return bytes ? Uint8Array.from(bytes) : utf8.encode(token);
    }
    const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(token);
    if (byte && this.byteFallback) return Uint8Array.of(parseInt(byte[1], 16));
    return utf8.encode(token.replaceAll(METASPACE, ' '));
  }

  private splitOnAddedTokens(text: string): { text: string; addedId?: number }[] {
    if (!this.addedPattern) return [{ text }];
    const segments: { text: string; addedId?: number }[] = [];
    let last = 0;
    this.addedPattern.lastIndex = 0;
    for (const match of text.matchAll(this.addedPattern)) {
      const token = this.addedTokens.find((added) => added.content === match[0])!;
      let before = text.slice(last, match.index);
      if (token.lstrip) before = before.trimEnd();
      segments.push({ text: before });
      segments.push({ text: match[0], addedId: token.id });
      last = match.index + match[0].length;
      if (token.rstrip) while (last < text.length && /\s/.test(text[last])) last++;
    }
    segments.push({ text: text.slice(last) });
    return segments;
  }

  private encodeWord(piece: string): number[] {
    const cached = this.wordCache.get(piece);
    if (cached) return cached;
    const word = this.byteLevel ? bytesToByteLevel(piece) : piece;
    let ids: number[];
    const whole = this.vocab.get(word);
    if (this.ignoreMerges && whole !== undefined) ids = [whole];
    else ids = this.symbolsToIds(this.applyMerges([...word]));
    if (this.wordCache.size < 100_000) this.wordCache.set(piece, ids);
    return ids;
  }

  private applyMerges(symbols: string[]): string[] {
    while (symbols.length > 1) {
      let bestRank = Infinity;
      let bestIndex = -1;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.mergeRanks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          bestIndex = i;
        }
      }
      if (bestIndex < 0) break;
      const left = symbols[bestIndex];
      const right = symbols[bestIndex + 1];
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else merged.push(symbols[i]);
      }
      symbols = merged;
    }
    return symbols;
  }

  private symbolsToIds(symbols: string[]): number[] {
    const ids: number[] = [];
    for (const symbol of symbols) {
      const id = this.vocab.get(symbol);
      if (id !== undefined) ids.push(id);
      else if (this.byteFallback) {
        for (const byte of utf8.encode(symbol)) {
          const fallback = this.vocab.get(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
          if (fallback !== undefined) ids.push(fallback);
          else if (this.unkId !== undefined) ids.push(this.unkId);
        }
      } else if (this.unkId !== undefined) ids.push(this.unkId);
    }
    return ids;
  }
}

/**
 * Turns a stream of token ids into text deltas. Bytes of a character split
 * across tokens are held back until the character is complete, so no delta
 * ever contains a replacement character that the full decode would not.
 */
export class StreamingDetokenizer {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private atStart = true;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly skipSpecialTokens = true,
  ) {}

  push(id: number): string {
    if (this.skipSpecialTokens && this.tokenizer.isSpecial(id)) return '';
    const bytes = this.tokenizer.bytesOf(id);
    if (!bytes || bytes.length === 0) return '';
    let text = this.decoder.decode(bytes, { stream: true });
    if (this.atStart && text.length > 0) {
      this.atStart = false;
      if (this.tokenizer.stripsLeadingSpace && text.startsWith(' ')) text = text.slice(1);
    }
    return text;
  }

  flush(): string {
    return this.decoder.decode();
  }
}

function splitMerge(merge: string): [string, string] {
  // Merges are "left right"; a token may itself be a space only in non-byte-level vocabularies, so split on the first space after position 0.
  const index = merge.indexOf(' ', 1);
  if (index < 0) throw new ModelLoadError(`tokenizer.json: malformed merge "${merge}"`);
  return [merge.slice(0, index), merge.slice(index + 1)];
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function componentTypes(component: ComponentJson | null): string[] {
  if (!component) return [];
  const children = (component.pretokenizers ?? component.decoders ?? component.normalizers ?? component.processors) as ComponentJson[] | undefined;
  return [component.type, ...(children ?? []).flatMap((child) => componentTypes(child))];
}

function decoderStripsLeadingSpace(decoder: ComponentJson | null): boolean {
  if (!decoder) return false;
  if (decoder.type === 'Strip') return (decoder.start as number) > 0 && decoder.content === ' ';
  if (decoder.type === 'Metaspace') return (decoder.prepend_scheme ?? (decoder.add_prefix_space === false ? 'never' : 'always')) !== 'never';
  if (decoder.type === 'Sequence') return (decoder.decoders as ComponentJson[]).some((child) => decoderStripsLeadingSpace(child));
  return false;
}

function buildNormalizer(normalizer: ComponentJson | null): NormalizeStep {
  if (!normalizer) return (text) => text;
  switch (normalizer.type) {
    case 'Sequence': {
      const steps = (normalizer.normalizers as ComponentJson[]).map((child) => buildNormalizer(child));
      return (text) => steps.reduce((current, step) => step(current), text);
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = normalizer.type;
      return (text) => text.normalize(form);
    }
    case 'Prepend': {
      const prefix = normalizer.prepend as string;
      return (text) => prefix + text;
    }
    case 'Replace': {
      const pattern = normalizer.pattern as { String?: string; Regex?: string };
      const content = normalizer.content as string;
      if (pattern.String !== undefined) {
        const from = pattern.String;
        return (text) => text.replaceAll(from, content);
      }
      const regex = compileSplitPattern(pattern.Regex ?? '');
      return (text) => text.replace(regex, content);
    }
    case 'Lowercase':
      return (text) => text.toLowerCase();
    case 'Strip':
      return (text) => text.trim();
    default:
      throw new ModelLoadError(`tokenizer.json: unsupported normalizer "${normalizer.type}"`);
  }
}

function buildPreTokenizer(pre: ComponentJson | null): { step: PreTokenizeStep; byteLevel: boolean } {
  if (!pre) return { step: (pieces) => pieces, byteLevel: false };
  switch (pre.type) {
    case 'Sequence': {
      const parts = (pre.pretokenizers as ComponentJson[]).map((child) => buildPreTokenizer(child));
      return { step: (pieces) => parts.reduce((current, part) => part.step(current), pieces), byteLevel: parts.some((part) => part.byteLevel) };
    }
    case 'ByteLevel': {
      // The byte-to-unicode mapping itself happens per word in the BPE step.
      const regex = pre.use_regex === false ? undefined : compileSplitPattern(GPT2_SPLIT_PATTERN);
      const addPrefixSpace = pre.add_prefix_space === true;
      return {
        step: (pieces) =>
          pieces.flatMap((piece) => {
            const text = addPrefixSpace && !piece.startsWith(' ') ? ` ${piece}` : piece;
            return regex ? splitWithPattern(text, regex) : [text];
          }),
        byteLevel: true,
      };
    }
    case 'Split': {
      const pattern = pre.pattern as { String?: string; Regex?: string };
      const regex = pattern.Regex !== undefined ? compileSplitPattern(pattern.Regex) : new RegExp(escapeRegex(pattern.String ?? ''), 'gu');
      const behavior = pre.behavior as string;
      if (pre.invert === true) throw new ModelLoadError('tokenizer.json: inverted Split pre-tokenizers are not supported');
      return { step: (pieces) => pieces.flatMap((piece) => splitBy(piece, regex, behavior)), byteLevel: false };
    }
    case 'Digits': {
      const individual = pre.individual_digits === true;
      const regex = individual ? /\p{N}/gu : /\p{N}+/gu;
      return { step: (pieces) => pieces.flatMap((piece) => splitBy(piece, regex, 'Isolated')), byteLevel: false };
    }
    case 'Metaspace': {
      const replacement = (pre.replacement as string | undefined) ?? METASPACE;
      const scheme = (pre.prepend_scheme as string | undefined) ?? (pre.add_prefix_space === false ? 'never' : 'always');
      const split = pre.split !== false;
      return {
        step: (pieces) =>
          pieces.flatMap((piece, index) => {
            let text = piece.replaceAll(' ', replacement);
            if ((scheme === 'always' || (scheme === 'first' && index === 0)) && !text.startsWith(replacement)) text = replacement + text;
            if (!split) return [text];
            return text.split(new RegExp(`(?=${escapeRegex(replacement)})`, 'u')).filter((part) => part.length > 0);
          }),
        byteLevel: false,
      };
    }
    default:
      throw new ModelLoadError(`tokenizer.json: unsupported pre-tokenizer "${pre.type}"`);
  }
}

function splitBy(text: string, regex: RegExp, behavior: string): string[] {
  switch (behavior) {
    case 'Isolated':
      return splitWithPattern(text, regex);
    case 'Removed': {
      const pieces: string[] = [];
      let last = 0;
      for (const match of text.matchAll(regex)) {
        if (match.index > last) pieces.push(text.slice(last, match.index));
        last = match.index + match[0].length;
      }
      if (last < text.length) pieces.push(text.slice(last));
      return pieces;
    }
    case 'MergedWithPrevious':
    case 'MergedWithNext': {
      const pieces: string[] = [];
      let last = 0;
      let carry = '';
      for (const match of text.matchAll(regex)) {
        const before = text.slice(last, match.index);
        if (behavior === 'MergedWithPrevious') {
          pieces.push(before + match[0]);
        } else {
          if (carry || before) pieces.push(carry + before);
          carry = match[0];
        }
        last = match.index + match[0].length;
      }
      const rest = text.slice(last);
      if (carry || rest) pieces.push(carry + rest);
      return pieces.filter((piece) => piece.length > 0);
    }
    default:
      throw new ModelLoadError(`tokenizer.json: unsupported Split behavior "${behavior}"`);
  }
}
