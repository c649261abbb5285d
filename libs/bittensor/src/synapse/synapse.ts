import type { z } from 'zod';
import { sha3Hex } from '../auth/dendrite-auth';
import { parsePyJson } from './py-json';
import { PyFloat, pyFloatRepr, pyStr, type PyValue } from './py-repr';

/**
 * One end of a call as the SDK's `TerminalInfo` describes it. Field names are
 * camelCase here; on the wire they are the SDK's snake_case.
 */
export interface TerminalInfo {
  statusCode?: number;
  statusMessage?: string;
  processTime?: number;
  ip?: string;
  port?: number;
  version?: number;
  nonce?: bigint;
  uuid?: string;
  hotkey?: string;
  signature?: string;
}

/** The SDK's TerminalInfo fields in declaration order (the order of its headers and model_dump). */
const TERMINAL_FIELDS = [
  ['status_code', 'statusCode', 'int'],
  ['status_message', 'statusMessage', 'str'],
  ['process_time', 'processTime', 'float'],
  ['ip', 'ip', 'str'],
  ['port', 'port', 'int'],
  ['version', 'version', 'int'],
  ['nonce', 'nonce', 'bigint'],
  ['uuid', 'uuid', 'str'],
  ['hotkey', 'hotkey', 'str'],
  ['signature', 'signature', 'str'],
] as const satisfies readonly (readonly [string, keyof TerminalInfo, 'int' | 'str' | 'float' | 'bigint'])[];

export const HEADER = {
  name: 'name',
  timeout: 'timeout',
  headerSize: 'header_size',
  totalSize: 'total_size',
  bodyHash: 'computed_body_hash',
  axonPrefix: 'bt_header_axon_',
  dendritePrefix: 'bt_header_dendrite_',
  inputObjPrefix: 'bt_header_input_obj_',
} as const;

/** The SDK's default query timeout in seconds (`Synapse.timeout`). */
export const DEFAULT_SYNAPSE_TIMEOUT_S = 12;

/**
 * A synapse class as a Python subnet declares it: its route name, its own
 * fields (validated by a zod schema whose key order is the class's field
 * order), the fields without a default (sent as empty `bt_header_input_obj_*`
 * headers so the other side can build the object from headers alone), and
 * the fields the body hash covers.
 */
export interface SynapseType<S extends z.ZodObject> {
  readonly name: string;
  readonly streaming: boolean;
  readonly schema: S;
  /** Pydantic-required fields, each with the value `type()` gives (`[]`, `''`, `{}`). */
  readonly requiredFields: Readonly<Partial<Record<keyof z.infer<S> & string, PyValue>>>;
  readonly requiredHashFields: readonly (keyof z.infer<S> & string)[];
}

export type SynapseFields<T> = T extends SynapseType<infer S> ? z.infer<S> : never;

export function defineSynapse<S extends z.ZodObject>(type: SynapseType<S>): SynapseType<S> {
  for (const field of [...type.requiredHashFields, ...Object.keys(type.requiredFields)]) {
    if (!(field in type.schema.shape)) throw new Error(`synapse ${type.name}: ${field} is not one of its fields`);
  }
  return type;
}

/**
 * The SDK's `Synapse.body_hash`: SHA3-256 of the concatenated SHA3-256 hex
 * digests of `str()` of each required hash field, in the declared order.
 */
export function synapseBodyHash(requiredHashFields: readonly string[], fields: Readonly<Record<string, PyValue>>): string {
  return sha3Hex(requiredHashFields.map((field) => sha3Hex(pyStr(fields[field]))).join(''));
}

/** The body hash of a raw JSON request body, with Python's int/float typing of numbers. */
export function synapseBodyHashOfJson(requiredHashFields: readonly string[], body: string): string {
  const parsed = parsePyJson(body);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || parsed instanceof PyFloat) {
    throw new SyntaxError('synapse body must be a JSON object');
  }
  return synapseBodyHash(requiredHashFields, parsed as Record<string, PyValue>);
}

function terminalValueToHeader(kind: 'int' | 'str' | 'float' | 'bigint', value: unknown): string {
  if (kind === 'float') return pyFloatRepr(Number(value));
  return String(value);
}

/** TerminalInfo as the `bt_header_{axon|dendrite}_*` headers (`str(v)` of every set field). */
export function terminalToHeaders(prefix: string, info: TerminalInfo | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!info) return out;
  for (const [wire, key, kind] of TERMINAL_FIELDS) {
    const value = info[key];
    if (value !== undefined && value !== null) out[`${prefix}${wire}`] = terminalValueToHeader(kind, value);
  }
  return out;
}

/** TerminalInfo as the SDK's `model_dump()` dict (every field, None included). */
export function terminalToPy(info: TerminalInfo | undefined): Record<string, PyValue> {
  const out: Record<string, PyValue> = {};
  for (const [wire, key, kind] of TERMINAL_FIELDS) {
    const value = info?.[key];
    if (value === undefined || value === null) out[wire] = null;
    else out[wire] = kind === 'float' ? new PyFloat(Number(value)) : value;
  }
  return out;
}

export class SynapseParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SynapseParseError';
  }
}

function parseInteger(raw: string, field: string): number {
  if (!/^\s*[+-]?\d+\s*$/.test(raw)) throw new SynapseParseError(`${field} is not an integer: ${raw.slice(0, 40)}`);
  return Number(raw);
}

function parseFloatStrict(raw: string, field: string): number {
  const value = Number(raw.trim());
  if (raw.trim() === '' || Number.isNaN(value)) throw new SynapseParseError(`${field} is not a number: ${raw.slice(0, 40)}`);
  return value;
}

/** Reads the `bt_header_{axon|dendrite}_*` headers, casting as the SDK's validators do. */
export function terminalFromHeaders(prefix: string, headers: HeaderBag): TerminalInfo {
  const info: TerminalInfo = {};
  for (const [wire, key, kind] of TERMINAL_FIELDS) {
    const raw = headerValue(headers, `${prefix}${wire}`);
    if (raw === undefined) continue;
    switch (kind) {
      case 'int':
        (info as Record<string, unknown>)[key] = parseInteger(raw, `${prefix}${wire}`);
        break;
      case 'bigint':
        parseInteger(raw, `${prefix}${wire}`);
        info.nonce = BigInt(raw.trim());
        break;
      case 'float':
        info.processTime = parseFloatStrict(raw, `${prefix}${wire}`);
        break;
      case 'str':
        (info as Record<string, unknown>)[key] = raw;
        break;
    }
  }
  return info;
}

/** Terminal info from a JSON body's `axon` / `dendrite` object, tolerating absent or null fields. */
export function terminalFromJson(value: unknown): TerminalInfo {
  const info: TerminalInfo = {};
  if (value === null || typeof value !== 'object') return info;
  const record = value as Record<string, unknown>;
  for (const [wire, key, kind] of TERMINAL_FIELDS) {
    const raw = record[wire];
    if (raw === undefined || raw === null) continue;
    const text = typeof raw === 'string' ? raw : typeof raw === 'number' || typeof raw === 'bigint' ? String(raw) : undefined;
    if (text === undefined) continue;
    switch (kind) {
      case 'int':
        (info as Record<string, unknown>)[key] = parseInteger(text, wire);
        break;
      case 'bigint':
        parseInteger(text, wire);
        info.nonce = BigInt(text.trim());
        break;
      case 'float':
        info.processTime = parseFloatStrict(text, wire);
        break;
      case 'str':
        (info as Record<string, unknown>)[key] = text;
        break;
    }
  }
  return info;
}

export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>> | Headers;

/** A header by its lower-case name from Node's header object or a fetch Headers. */
export function headerValue(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Readonly<Record<string, string | readonly string[] | undefined>>)[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(', ');
}

export interface SynapseHeaderInput {
  name: string;
  timeoutSeconds: number;
  axon?: TerminalInfo;
  dendrite?: TerminalInfo;
  requiredFields: Readonly<Record<string, PyValue>>;
  totalSize: number;
  bodyHash: string;
}

/**
 * The SDK's `Synapse.to_headers()`: name and timeout, both terminals, an
 * empty `bt_header_input_obj_*` per required field, sizes, and the body hash.
 */
export function synapseToHeaders(input: SynapseHeaderInput): Record<string, string> {
  const headers: Record<string, string> = {
    [HEADER.name]: input.name,
    [HEADER.timeout]: pyFloatRepr(input.timeoutSeconds),
    ...terminalToHeaders(HEADER.axonPrefix, input.axon),
    ...terminalToHeaders(HEADER.dendritePrefix, input.dendrite),
  };
  for (const [field, empty] of Object.entries(input.requiredFields)) {
    headers[`${HEADER.inputObjPrefix}${field}`] = Buffer.from(JSON.stringify(empty), 'utf8').toString('base64');
  }
  // Python reports sys.getsizeof(headers); only its being an integer matters to readers.
  headers[HEADER.headerSize] = String(Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length, 0));
  headers[HEADER.totalSize] = String(input.totalSize);
  headers[HEADER.bodyHash] = input.bodyHash;
  return headers;
}
