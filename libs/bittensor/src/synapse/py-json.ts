import { PyFloat, pyFloatRepr, type PyValue } from './py-repr';

/**
 * Parses JSON the way Python's `json.loads` types it: a number written with a
 * fraction or exponent is a float (kept as PyFloat so `2.0` hashes as `2.0`),
 * any other number is an int (a bigint beyond 2^53, exactly as written).
 * `JSON.parse` cannot tell `2` from `2.0`, and the body hash can.
 */
export function parsePyJson(text: string): PyValue {
  const parser = new PyJsonParser(text);
  parser.skipWhitespace();
  const value = parser.value();
  parser.skipWhitespace();
  if (!parser.atEnd()) parser.fail('unexpected trailing data');
  return value;
}

class PyJsonParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  fail(message: string): never {
    throw new SyntaxError(`invalid JSON at position ${this.pos}: ${message}`);
  }

  skipWhitespace(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text[this.pos])) this.pos++;
  }

  value(): PyValue {
    const ch = this.text[this.pos];
    if (ch === '{') return this.object();
    if (ch === '[') return this.array();
    if (ch === '"') return this.string();
    if (ch === '-' || (ch >= '0' && ch <= '9')) return this.number();
    if (this.text.startsWith('true', this.pos)) return this.literal('true', true);
    if (this.text.startsWith('false', this.pos)) return this.literal('false', false);
    if (this.text.startsWith('null', this.pos)) return this.literal('null', null);
    // Python's json module also reads these non-standard tokens.
    if (this.text.startsWith('NaN', this.pos)) return this.literal('NaN', new PyFloat(NaN));
    if (this.text.startsWith('Infinity', this.pos)) return this.literal('Infinity', new PyFloat(Infinity));
    if (this.text.startsWith('-Infinity', this.pos)) return this.literal('-Infinity', new PyFloat(-Infinity));
    return this.fail('unexpected token');
  }

  private literal<T extends PyValue>(token: string, value: T): T {
    this.pos += token.length;
    return value;
  }

  private object(): { [key: string]: PyValue } {
    const out: { [key: string]: PyValue } = {};
    this.pos++;
    this.skipWhitespace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') this.fail('expected a string key');
      const key = this.string();
      this.skipWhitespace();
      if (this.text[this.pos] !== ':') this.fail("expected ':'");
      this.pos++;
      this.skipWhitespace();
      // A repeated key keeps its first position and its last value, as a dict does.
      Object.defineProperty(out, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.skipWhitespace();
      const sep = this.text[this.pos++];
      if (sep === '}') return out;
      if (sep !== ',') this.fail("expected ',' or '}'");
    }
  }

  private array(): PyValue[] {
    const out: PyValue[] = [];
    this.pos++;
    this.skipWhitespace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      out.push(this.value());
      this.skipWhitespace();
      const sep = this.text[this.pos++];
      if (sep === ']') return out;
      if (sep !== ',') this.fail("expected ',' or ']'");
    }
  }

  private string(): string {
    const start = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      const ch = this.text[this.pos++];
      if (ch === undefined) {
        this.pos = start;
        this.fail('unterminated string');
      }
      if (ch === '"') return out;
      if (ch !== '\\') {
        if (ch < ' ') this.fail('control character in string');
        out += ch;
        continue;
      }
      const esc = this.text[this.pos++];
      switch (esc) {
        case '"':
        case '\\':
        case '/':
          out += esc;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const code = this.text.slice(this.pos, this.pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(code)) this.fail('bad \\u escape');
          // Surrogate pairs join by themselves in a JS string; lone ones stay lone, as in Python.
          out += String.fromCharCode(parseInt(code, 16));
          this.pos += 4;
          break;
        }
        default:
          this.fail('bad escape');
      }
    }
  }

  private number(): PyValue {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.pos, this.pos + 400));
    if (!match || match[0] === '-') this.fail('bad number');
    const token = match[0];
    this.pos += token.length;
    if (match[2] !== undefined || match[3] !== undefined) return new PyFloat(Number(token));
    const asNumber = Number(token);
    return Number.isSafeInteger(asNumber) ? asNumber : BigInt(token);
  }
}

/**
 * `json.dumps(value)` with Python's defaults (`', '` and `': '` separators,
 * non-ASCII escaped as `\uXXXX`), so bigints (nanosecond nonces) stay exact
 * and floats keep their Python spelling.
 */
export function pyJsonDumps(value: PyValue): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return jsonString(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isInteger(value) && !Object.is(value, -0) ? String(value) : floatJson(value);
  if (value instanceof PyFloat) return floatJson(value.value);
  if (Array.isArray(value)) return `[${(value as readonly PyValue[]).map(pyJsonDumps).join(', ')}]`;
  const entries = Object.entries(value as { readonly [key: string]: PyValue });
  return `{${entries.map(([k, v]) => `${jsonString(k)}: ${pyJsonDumps(v)}`).join(', ')}}`;
}

function floatJson(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return pyFloatRepr(x);
}

const JSON_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

function jsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const code = s.charCodeAt(i);
    if (JSON_ESCAPES[ch] !== undefined) out += JSON_ESCAPES[ch];
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out + '"';
}
