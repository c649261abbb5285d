import { LLAMA3_SPLIT_PATTERN } from './byte-level';
import { compileSplitPattern, splitWithPattern } from './byte-level';
import { trainByteLevelBpe } from '../generator/bpe-trainer';
import { TRAINING_CORPUS } from '../generator/corpus';
import { StreamingDetokenizer, Tokenizer } from './tokenizer';

function byteLevelTokenizer(): Tokenizer {
  const bpe = trainByteLevelBpe(TRAINING_CORPUS, LLAMA3_SPLIT_PATTERN, 400);
  const vocab = Object.fromEntries(bpe.tokens.map((token, id) => [token, id]));
  const special = ['<|begin_of_text|>', '<|eot_id|>'];
  return new Tokenizer({
    added_tokens: special.map((content, index) => ({ id: bpe.tokens.length + index, content, special: true })),
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: LLAMA3_SPLIT_PATTERN }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
      ],
    },
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab, merges: bpe.merges.map(([a, b]) => `${a} ${b}`), ignore_merges: true },
  });
}

describe('Tokenizer (byte-level BPE)', () => {
  const tokenizer = byteLevelTokenizer();

  it.each(['Hello, world!', 'It was the best of times.\n\nNew paragraph  with  spaces', 'naïve café — 東京 🚀🎉', "don't WON'T 12345 3.14"])(
    'round-trips %j exactly',
    (text) => {
      expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
    },
  );

  it('compresses common English words into single tokens learned from the corpus', () => {
    const ids = tokenizer.encode(' the nation');
    expect(ids.length).toBeLessThanOrEqual(3);
  });

  it('recognises special tokens written in the text and skips them when decoding', () => {
    const ids = tokenizer.encode('<|begin_of_text|>Hi<|eot_id|>');
    expect(ids[0]).toBe(tokenizer.tokenId('<|begin_of_text|>'));
    expect(ids[ids.length - 1]).toBe(tokenizer.tokenId('<|eot_id|>'));
    expect(tokenizer.decode(ids)).toBe('Hi');
    expect(tokenizer.decode(ids, false)).toBe('<|begin_of_text|>Hi<|eot_id|>');
  });

  it('never streams a broken UTF-8 character and streams exactly the full decode', () => {
    const ids = tokenizer.encode('emoji 🚀 and 東京 split over byte tokens');
    const stream = new StreamingDetokenizer(tokenizer);
    const deltas = ids.map((id) => stream.push(id));
    deltas.push(stream.flush());
    expect(deltas.join('')).toBe(tokenizer.decode(ids));
    for (const delta of deltas) expect(delta).not.toContain('\uFFFD');
    // The rocket is four bytes, encoded by several byte tokens; only one delta may carry it.
    expect(deltas.filter((delta) => delta.includes('🚀'))).toHaveLength(1);
  });
});

describe('compileSplitPattern', () => {
  it('expands scoped case-insensitive groups that JavaScript regular expressions lack', () => {
    const regex = compileSplitPattern(LLAMA3_SPLIT_PATTERN);
    expect(splitWithPattern("I'M here, you'RE 12345", regex)).toEqual(['I', "'M", ' here', ',', ' you', "'RE", ' ', '123', '45']);
  });
});

describe('Tokenizer (SentencePiece-style BPE with byte fallback)', () => {
  const pieces = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, byte) => `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`)];
  const words = ['▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd', '▁h', '▁he', '▁hel', '▁hell', '▁hello', '▁w', '▁wo', '▁wor', '▁worl', '▁world'];
  const vocab = Object.fromEntries([...pieces, ...words].map((token, id) => [token, id]));
  const merges = ['▁ h', '▁h e', '▁he l', '▁hel l', '▁hell o', '▁ w', '▁w o', '▁wo r', '▁wor l', '▁worl d'];
  const tokenizer = new Tokenizer({
    added_tokens: [
      { id: 0, content: '<unk>', special: true },
      { id: 1, content: '<s>', special: true },
      { id: 2, content: '</s>', special: true },
    ],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    },
    model: { type: 'BPE', vocab, merges, byte_fallback: true, unk_token: '<unk>' },
  });

  it('merges ▁-prefixed words and falls back to <0xNN> byte tokens for unknown characters', () => {
    const ids = tokenizer.encode('hello world é');
    expect(ids.slice(0, 2)).toEqual([vocab['▁hello'], vocab['▁world']]);
    expect(ids.slice(2)).toEqual([vocab['▁'], vocab['<0xC3>'], vocab['<0xA9>']]);
    expect(tokenizer.decode(ids)).toBe('hello world é');
  });
});
