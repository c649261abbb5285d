/**
 * GPT-2's reversible byte-to-unicode table: printable Latin-1 bytes map to
 * themselves, every other byte to a code point from U+0100 upwards, so that
 * byte-level BPE vocabularies never contain whitespace or control characters.
 */
function buildByteTables(): { byteToChar: string[]; charToByte: Map<string, number> } {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const byteToChar: string[] = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) byteToChar[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
  const charToByte = new Map(byteToChar.map((char, byte) => [char, byte]));
  return { byteToChar, charToByte };
}

const tables = buildByteTables();

/** The 256 byte characters in GPT-2's vocabulary order (printable bytes first). */
export const BYTE_LEVEL_ALPHABET: readonly string[] = (() => {
  const order: number[] = [];
  for (let b = 0; b < 256; b++) if (tables.byteToChar[b].codePointAt(0)! < 256) order.push(b);
  for (let b = 0; b < 256; b++) if (tables.byteToChar[b].codePointAt(0)! >= 256) order.push(b);
  return order.map((b) => tables.byteToChar[b]);
})();

const encoder = new TextEncoder();

export function bytesToByteLevel(text: string): string {
  let out = '';
  for (const byte of encoder.encode(text)) out += tables.byteToChar[byte];
  return out;
}

/** Maps a byte-level token back to its raw bytes; undefined for characters outside the table. */
export function byteLevelToBytes(token: string): number[] | undefined {
  const bytes: number[] = [];
  for (const char of token) {
    const byte = tables.charToByte.get(char);
    if (byte === undefined) return undefined;
    bytes.push(byte);
  }
  return bytes;
}

/** Llama 3's pre-tokenizer pattern (a GPT-4 style split: contractions, words, 1-3 digit groups, punctuation runs, newlines, spaces). */
export const LLAMA3_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** GPT-2's pre-tokenizer pattern, implied by a ByteLevel pre-tokenizer with use_regex. */
export const GPT2_SPLIT_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/**
 * Compiles a pattern written for the Rust `regex`/Oniguruma engines that
 * Hugging Face tokenizers use. JavaScript (before ES2025) lacks scoped
 * modifiers, so `(?i:...)` groups are expanded into explicit case classes.
 */
export function compileSplitPattern(pattern: string): RegExp {
  let source = '';
  let index = 0;
  while (index < pattern.length) {
    if (pattern.startsWith('(?i:', index)) {
      let depth = 1;
      let end = index + 4;
      while (end < pattern.length && depth > 0) {
        if (pattern[end] === '\\') end++;
        else if (pattern[end] === '(') depth++;
        else if (pattern[end] === ')') depth--;
        end++;
      }
      const body = pattern.slice(index + 4, end - 1);
      source += '(?:' + caseInsensitive(body) + ')';
      index = end;
    } else if (pattern[index] === '\\') {
      source += pattern.slice(index, index + 2);
      index += 2;
    } else source += pattern[index++];
  }
  return new RegExp(source, 'gu');
}

function caseInsensitive(body: string): string {
  let out = '';
  let inClass = false;
  for (let index = 0; index < body.length; index++) {
    const char = body[index];
    if (char === '\\') {
      out += body.slice(index, index + 2);
      index++;
    } else if (char === '[') {
      inClass = true;
      out += char;
    } else if (char === ']') {
      inClass = false;
      out += char;
    } else if (/[a-z]/i.test(char)) {
      const both = char.toLowerCase() + char.toUpperCase();
      out += inClass ? both : `[${both}]`;
    } else out += char;
  }
  return out;
}

/** Splits text into pre-tokens with a global regex. Text between matches is kept, as the Hugging Face "Isolated" split does. */
export function splitWithPattern(text: string, regex: RegExp): string[] {
  const pieces: string[] = [];
  let last = 0;
  regex.lastIndex = 0;
  for (const match of text.matchAll(regex)) {
    if (match.index > last) pieces.push(text.slice(last, match.index));
    if (match[0].length > 0) pieces.push(match[0]);
    last = match.index + match[0].length;
  }
  if (last < text.length) pieces.push(text.slice(last));
  return pieces;
}
