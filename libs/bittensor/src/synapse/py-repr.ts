/**
 * Python's `str()` of the values a pydantic `model_dump()` produces, because the
 * SDK's body hash is SHA3-256 over exactly that text. A byte of difference
 * (quote choice, an escape, `1e-05` against `0.00001`) makes every signature
 * from a Python dendrite fail, so each rule below mirrors CPython 3's
 * `unicode_repr`, `float_repr`, `list_repr` and `dict_repr`.
 */

/** A number that is a Python `float` even when it is integral (`2.0`, not `2`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

export function pyFloat(value: number): PyFloat {
  return new PyFloat(value);
}

/**
 * JSON-like values with Python meaning: string → str, integral number or
 * bigint → int, other number or PyFloat → float, boolean → bool, null and
 * undefined → None, array → list, plain object → dict (insertion order).
 */
export type PyValue = string | number | bigint | boolean | null | undefined | PyFloat | readonly PyValue[] | { readonly [key: string]: PyValue };

// Python's str.isprintable(): everything except the "Other" (Cc, Cf, Cs, Co,
// Cn) and "Separator" (Zl, Zp, Zs) categories, with the ASCII space allowed.
const NON_PRINTABLE = /^[\p{C}\p{Z}]$/u;

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}

/** `repr(s)` for a Python str. */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  // for..of walks code points and yields lone surrogates as themselves,
  // which Python (holding them as code points) escapes as \udXXX.
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\x${hex(code, 2)}`;
    else if (code < 0x7f) out += ch;
    else if (!NON_PRINTABLE.test(ch)) out += ch;
    else if (code <= 0xff) out += `\\x${hex(code, 2)}`;
    else if (code <= 0xffff) out += `\\u${hex(code, 4)}`;
    else out += `\\U${hex(code, 8)}`;
  }
  return out + quote;
}

/** `repr(x)` for a Python float: shortest round-trip digits, exponent form outside [1e-4, 1e16). */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // JS and Python both pick the shortest digit string that round-trips and,
  // among those, the one closest to the value; only the layout differs.
  const [mantissa, expPart] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exp = Number(expPart);
  if (exp < -4 || exp >= 16) {
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : '';
    const expSign = exp < 0 ? '-' : '+';
    return `${sign}${digits[0]}${frac}e${expSign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const fracPart = digits.slice(exp + 1);
  return `${sign}${intPart}.${fracPart || '0'}`;
}

/** `str(value)` as Python prints it (for containers, the repr of the items). */
export function pyStr(value: PyValue): string {
  return typeof value === 'string' ? value : pyRepr(value);
}

/** `repr(value)` as Python prints it. */
export function pyRepr(value: PyValue): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'string') return pyStrRepr(value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    return Number.isInteger(value) && !Object.is(value, -0) ? intRepr(value) : pyFloatRepr(value);
  }
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (Array.isArray(value)) return `[${(value as readonly PyValue[]).map(pyRepr).join(', ')}]`;
  const entries = Object.entries(value as { readonly [key: string]: PyValue });
  return `{${entries.map(([k, v]) => `${pyStrRepr(k)}: ${pyRepr(v)}`).join(', ')}}`;
}

function intRepr(value: number): string {
  // Beyond 2^53 a JSON integer has already lost digits; print what we hold.
  return Number.isSafeInteger(value) ? String(value) : BigInt(value).toString();
}
