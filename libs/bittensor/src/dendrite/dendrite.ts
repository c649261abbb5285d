import type { z } from 'zod';
import { DendriteSigner, type SigningLane } from '../auth/dendrite-auth';
import { BITTENSOR_VERSION_AS_INT } from '../chain/axon-info';
import type { Keypair } from '../keys/keypair';
import { pyJsonDumps } from '../synapse/py-json';
import { PyFloat, type PyValue } from '../synapse/py-repr';
import {
  DEFAULT_SYNAPSE_TIMEOUT_S,
  HEADER,
  headerValue,
  synapseBodyHash,
  synapseToHeaders,
  terminalFromHeaders,
  terminalToPy,
  type SynapseType,
  type TerminalInfo,
} from '../synapse/synapse';

/** Where an axon listens and which hotkey it serves, as the metagraph lists it. */
export interface AxonTarget {
  ip: string;
  port: number;
  hotkey: string;
}

export interface DendriteCallOptions {
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

/**
 * How a call ended, with the SDK's status codes: the axon's own code when it
 * answered, otherwise the dendrite's (408 timeout, 503 unreachable, 422 an
 * answer that could not be read).
 */
export interface SynapseResult<F> {
  statusCode: number;
  statusMessage: string;
  /** The synapse's fields as the axon returned them (for a stream: as sent, plus `completion`). */
  fields?: F;
  axon: TerminalInfo;
  processTimeSeconds: number;
}

export interface DendriteOptions {
  /** Reported as `bt_header_dendrite_ip`; the SDK reports its external IP. */
  externalIp?: string;
  fetch?: typeof fetch;
}

interface PreparedRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutSeconds: number;
  lane: SigningLane;
}

/**
 * A Bittensor dendrite: queries axons (Python or ours) over the SDK's HTTP
 * protocol, signing each request as `bittensor.Dendrite` does.
 */
export class Dendrite {
  private readonly signer: DendriteSigner;
  private readonly fetchImpl: typeof fetch;

  constructor(
    keypair: Keypair,
    private readonly options: DendriteOptions = {},
  ) {
    this.signer = new DendriteSigner(keypair);
    this.fetchImpl = options.fetch ?? fetch;
  }

  get hotkey(): string {
    return this.signer.hotkey;
  }

  get uuid(): string {
    return this.signer.uuid;
  }

  /** A non-streaming synapse: one JSON answer. */
  async call<S extends z.ZodObject>(target: AxonTarget, type: SynapseType<S>, fields: z.input<S>, options: DendriteCallOptions = {}): Promise<SynapseResult<z.infer<S>>> {
    const started = performance.now();
    const request = this.prepare(target, type, fields as Record<string, PyValue>, options);
    const { signal, dispose } = deadline(request.timeoutSeconds, options.signal);
    try {
      const response = await this.fetchImpl(request.url, { method: 'POST', headers: request.headers, body: request.body, signal });
      const text = await response.text();
      return this.result(type, response, text, started, true);
    } catch (error) {
      return failure(error, request.timeoutSeconds, target, type.name, started);
    } finally {
      dispose();
      request.lane.release();
    }
  }

  /**
   * A streaming synapse: iterate for the text chunks, then await `result` for
   * the final synapse (its `completion` is the concatenated chunks).
   */
  stream<S extends z.ZodObject>(target: AxonTarget, type: SynapseType<S>, fields: z.input<S>, options: DendriteCallOptions = {}): StreamingCall<z.infer<S>> {
    return new StreamingCall(async function* (this: Dendrite) {
      // Signed when iteration starts, so the nonce is fresh and an unread call holds no lane.
      const request = this.prepare(target, type, fields as Record<string, PyValue>, options);
      const started = performance.now();
      const { signal, dispose } = deadline(request.timeoutSeconds, options.signal);
      let completion = '';
      try {
        const response = await this.fetchImpl(request.url, { method: 'POST', headers: request.headers, body: request.body, signal });
        if (response.status !== 200 || !response.body) {
          return this.result(type, response, await response.text(), started, false);
        }
        const decoder = new TextDecoder('utf-8');
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            const text = decoder.decode(value, { stream: true });
            if (text) {
              completion += text;
              yield text;
            }
          }
        } finally {
          reader.releaseLock();
        }
        const tail = decoder.decode();
        if (tail) {
          completion += tail;
          yield tail;
        }
        const result = this.result(type, response, '', started, false);
        result.fields = { ...(fields as object), completion } as z.infer<S>;
        return result;
      } catch (error) {
        const result = failure<z.infer<S>>(error, request.timeoutSeconds, target, type.name, started);
        result.fields = { ...(fields as object), completion } as z.infer<S>;
        return result;
      } finally {
        dispose();
        request.lane.release();
      }
    }.call(this));
  }

  private prepare(target: AxonTarget, type: SynapseType<z.ZodObject>, fields: Record<string, PyValue>, options: DendriteCallOptions): PreparedRequest {
    const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_SYNAPSE_TIMEOUT_S;
    // Validated with the synapse's defaults; unset fields are left out so the
    // Python class applies its own defaults (a None would fail a `str` field).
    const parsed = type.schema.parse(fields) as Record<string, PyValue>;
    const own: Record<string, PyValue> = {};
    for (const key of Object.keys(type.schema.shape)) if (parsed[key] !== undefined) own[key] = parsed[key];
    const bodyHash = synapseBodyHash(type.requiredHashFields, own);
    const lane = this.signer.acquireLane(`${target.hotkey}@${target.ip}:${target.port}`);
    const auth = this.signer.sign(target.hotkey, bodyHash, lane.uuid);
    const dendrite: TerminalInfo = {
      ip: this.options.externalIp,
      version: BITTENSOR_VERSION_AS_INT,
      nonce: auth.nonce,
      uuid: auth.uuid,
      hotkey: auth.dendriteHotkey,
      signature: auth.signature,
    };
    const axon: TerminalInfo = { ip: target.ip, port: target.port, hotkey: target.hotkey };
    const body = pyJsonDumps({
      name: type.name,
      timeout: new PyFloat(timeoutSeconds),
      total_size: 0,
      header_size: 0,
      dendrite: terminalToPy(dendrite),
      axon: terminalToPy(axon),
      computed_body_hash: '',
      ...own,
    });
    const headers = synapseToHeaders({
      name: type.name,
      timeoutSeconds,
      axon,
      dendrite,
      requiredFields: type.requiredFields,
      totalSize: Buffer.byteLength(body),
      bodyHash,
    });
    // Like the SDK, an axon on this host's own public address is dialled locally (no hairpin NAT needed).
    const ip = this.options.externalIp !== undefined && target.ip === this.options.externalIp ? '127.0.0.1' : target.ip;
    const host = ip.includes(':') ? `[${ip}]` : ip;
    return { url: `http://${host}:${target.port}/${type.name}`, headers: { ...headers, 'content-type': 'application/json' }, body, timeoutSeconds, lane };
  }

  private result<S extends z.ZodObject>(type: SynapseType<S>, response: Response, text: string, started: number, parseFields: boolean): SynapseResult<z.infer<S>> {
    const axon = safeTerminal(response.headers);
    const processTimeSeconds = (performance.now() - started) / 1000;
    if (response.status !== 200) {
      let message = axon.statusMessage;
      try {
        message ??= (JSON.parse(text) as { message?: string }).message;
      } catch {
        message ??= text.slice(0, 200);
      }
      return { statusCode: axon.statusCode ?? response.status, statusMessage: message ?? `HTTP ${response.status}`, axon, processTimeSeconds };
    }
    if (!parseFields) return { statusCode: axon.statusCode ?? 200, statusMessage: axon.statusMessage ?? 'Success', axon, processTimeSeconds };
    try {
      const parsed = type.schema.parse(JSON.parse(text));
      return { statusCode: axon.statusCode ?? 200, statusMessage: axon.statusMessage ?? 'Success', fields: parsed, axon, processTimeSeconds };
    } catch (error) {
      return { statusCode: 422, statusMessage: `Failed to parse response: ${(error as Error).message}`, axon, processTimeSeconds };
    }
  }
}

/** A streaming query in flight: async-iterate for chunks; `result` settles when the stream ends. */
export class StreamingCall<F> implements AsyncIterable<string> {
  readonly result: Promise<SynapseResult<F>>;
  private settle!: (result: SynapseResult<F>) => void;
  private consumed = false;

  constructor(private readonly generator: AsyncGenerator<string, SynapseResult<F>>) {
    this.result = new Promise((resolve) => (this.settle = resolve));
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string> {
    if (this.consumed) throw new Error('a streaming call can be iterated once');
    this.consumed = true;
    for (;;) {
      const next = await this.generator.next();
      if (next.done) {
        this.settle(next.value);
        return;
      }
      yield next.value;
    }
  }

  /** Reads the whole stream and returns the final synapse. */
  async collect(): Promise<SynapseResult<F>> {
    for await (const _chunk of this) {
      // chunks accumulate into fields.completion
    }
    return this.result;
  }
}

function safeTerminal(headers: Headers): TerminalInfo {
  try {
    return terminalFromHeaders(HEADER.axonPrefix, headers);
  } catch {
    return { hotkey: headerValue(headers, `${HEADER.axonPrefix}hotkey`) };
  }
}

function deadline(timeoutSeconds: number, outer?: AbortSignal): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('timeout', 'TimeoutError')), timeoutSeconds * 1000);
  const onOuter = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

function failure<F>(error: unknown, timeoutSeconds: number, target: AxonTarget, name: string, started: number): SynapseResult<F> {
  const processTimeSeconds = (performance.now() - started) / 1000;
  const err = error as { name?: string; cause?: { code?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') {
    return { statusCode: 408, statusMessage: `Request timeout after ${timeoutSeconds} seconds`, axon: {}, processTimeSeconds };
  }
  const code = err?.cause?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') {
    return { statusCode: 503, statusMessage: `Service unavailable at ${target.ip}:${target.port}/${name}`, axon: {}, processTimeSeconds };
  }
  return { statusCode: 422, statusMessage: `Failed to parse response: ${(error as Error)?.message ?? String(error)}`, axon: {}, processTimeSeconds };
}
