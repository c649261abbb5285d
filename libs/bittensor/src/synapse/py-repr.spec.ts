import { parsePyJson, pyJsonDumps } from './py-json';
import { pyFloat, pyFloatRepr, pyRepr, pyStr, pyStrRepr } from './py-repr';

describe('pyRepr', () => {
  it('prints a mixed list exactly as CPython 3.11 str() does', () => {
    // Expected text produced by the Python SDK's interpreter (see test/interop for the live comparison).
    const value = [
      'a',
      "it's",
      'say "hi"',
      'both \' and "',
      'tab\there',
      '\x00\x7f\x80\xa0\xad',
      'ünï',
      '\u200b\u2028',
      '🚀',
      '\u{1d400}',
      pyFloat(1),
      1e-5,
      pyFloat(1e16),
      123456789.123,
      -0,
      2n ** 70n,
      true,
      null,
      { k: [1, 2.5] },
    ];
    expect(pyStr(value)).toBe(
      `['a', "it's", 'say "hi"', 'both \\' and "', 'tab\\there', '\\x00\\x7f\\x80\\xa0\\xad', 'ünï', '\\u200b\\u2028', '🚀', '𝐀', 1.0, 1e-05, 1e+16, 123456789.123, -0.0, 1180591620717411303424, True, None, {'k': [1, 2.5]}]`,
    );
  });

  it('picks double quotes only when the text has a single quote and no double quote', () => {
    expect(pyStrRepr("it's")).toBe(`"it's"`);
    expect(pyStrRepr(`it's "x"`)).toBe(`'it\\'s "x"'`);
    expect(pyStrRepr('plain')).toBe(`'plain'`);
  });

  it('escapes lone surrogates and astral non-printables with \\u and \\U', () => {
    expect(pyStrRepr('\ud800')).toBe(`'\\ud800'`);
    expect(pyStrRepr('\u{e0001}')).toBe(`'\\U000e0001'`);
  });

  it('lays floats out as Python repr does around the exponent thresholds', () => {
    expect([0.0001, 0.00001, 1e15, 1e16, 1.5e300, 5e-324, 0.1, 100, -2.5].map(pyFloatRepr)).toEqual([
      '0.0001',
      '1e-05',
      '1000000000000000.0',
      '1e+16',
      '1.5e+300',
      '5e-324',
      '0.1',
      '100.0',
      '-2.5',
    ]);
    expect([NaN, Infinity, -Infinity].map(pyFloatRepr)).toEqual(['nan', 'inf', '-inf']);
  });

  it('keeps a str as itself under str() but quotes it inside containers', () => {
    expect(pyStr('hi')).toBe('hi');
    expect(pyRepr(['hi'])).toBe("['hi']");
  });
});

describe('parsePyJson', () => {
  it('types numbers as Python json.loads does, so 2.0 and 2 hash differently', () => {
    expect(pyStr(parsePyJson('[2, 2.0, 1e2, 12345678901234567890, -0.0]') as never)).toBe('[2, 2.0, 100.0, 12345678901234567890, -0.0]');
  });

  it('keeps the first position and the last value of a repeated key, as a dict does', () => {
    expect(pyStr(parsePyJson('{"a": 1, "b": 2, "a": 3}'))).toBe("{'a': 3, 'b': 2}");
  });

  it('rejects malformed JSON with the position', () => {
    expect(() => parsePyJson('[1, 2')).toThrow(SyntaxError);
    expect(() => parsePyJson('{"a" 1}')).toThrow(/position/);
  });

  it('round-trips through pyJsonDumps with Python spelling and ASCII escapes', () => {
    const text = pyJsonDumps({ nonce: 1732550000000000123n, t: pyFloat(12), s: 'ü"\n', l: [null, true] });
    expect(text).toBe('{"nonce": 1732550000000000123, "t": 12.0, "s": "\\u00fc\\"\\n", "l": [null, true]}');
    expect(pyStr(parsePyJson(text))).toBe("{'nonce': 1732550000000000123, 't': 12.0, 's': 'ü\"\\n', 'l': [None, True]}");
  });
});
