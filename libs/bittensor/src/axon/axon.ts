import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AuthError, AxonVerifier, timeNs } from '../auth/dendrite-auth';
import { AxonError } from './axon-error';
import type { Keypair } from '../keys/keypair';
import { BITTENSOR_VERSION_AS_INT } from '../chain/axon-info';
import { pyJsonDumps } from '../synapse/py-json';
import { pyRepr, type PyValue } from '../synapse/py-repr';
import {
  DEFAULT_SYNAPSE_TIMEOUT_S,
  HEADER,
  headerValue,
  synapseBodyHashOfJson,
  SynapseParseError,
  synapseToHeaders,
  terminalFromHeaders,
  terminalToPy,
  defineSynapse,
  type HeaderBag,
  type SynapseType,
  type TerminalInfo,
} from '../synapse/synapse';

/** A request as any HTTP framework can hand it over. */
export interface AxonRequest {
  method: string;
  /** The URL path; the synapse name is its first segment. */
  path: string;
  headers: HeaderBag;
  /** The raw request body, UTF-8. */
  body: string;
  remoteAddress?: string;
  remotePort?: number;
  /** Fires when the caller goes away; generation stops with it. */
  signal: AbortSignal;
}

export interface AxonResponse {
  status: number;
  headers: Record<string, string>;
  /** A complete JSON body, or the chunks of a streaming synapse. */
  body: string | AsyncIterable<string>;
}

export interface ForwardContext<F> {
  fields: F;
  /** The verified caller. */
  dendrite: TerminalInfo & { hotkey: string };
  timeoutSeconds: number;
  /** Aborted when the caller disconnects or the synapse timeout passes. */
  signal: AbortSignal;
  /** What the priority function returned (0 without one). */
  priority: number;
}

export interface BlacklistVerdict {
  blocked: boolean;
  reason: string;
}

interface HandlerHooks {
  /** The SDK's blacklist_fn: runs before signature verification, on the claimed hotkey. */
  blacklist?: (hotkey: string) => BlacklistVerdict | Promise<BlacklistVerdict>;
  /** The SDK's priority_fn: a larger value is served first by the generator. */
  priority?: (hotkey: string) => number | Promise<number>;
}

export interface StreamingHandler<F> extends HandlerHooks {
  forward: (ctx: ForwardContext<F>) => AsyncIterable<string>;
}

export interface UnaryHandler<F> extends HandlerHooks {
  /** Returns the fields to set on the synapse sent back. */
  forward: (ctx: ForwardContext<F>) => Promise<Partial<F>>;
}

/** The pino-compatible subset the axon logs through. */
export interface AxonLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AxonOptions {
  keypair: Keypair;
  /** Upper bound on the timeout a caller may ask for, in seconds. */
  maxTimeoutSeconds?: number;
  logger?: AxonLogger;
  /** Shared with other transports so one nonce table guards them all. */
  verifier?: AxonVerifier;
  /** Reported as `bt_header_axon_version`; the SDK's `version_as_int`. */
  version?: number;
}

/** Outcome of one request, for metrics. */
export interface AxonRequestOutcome {
  synapse: string;
  status: number;
  caller?: string;
  seconds: number;
}

/** The base `Synapse` the SDK serves as a ping on every axon. */
export const PingSynapse = defineSynapse({
  name: 'Synapse',
  streaming: false,
  schema: z.object({}),
  requiredFields: {},
  requiredHashFields: [],
});

interface Route {
  type: SynapseType<z.ZodObject>;
  streaming: boolean;
  handler: StreamingHandler<unknown> | UnaryHandler<unknown>;
}

const NS_PER_S = 1_000_000_000n;

/**
 * A Bittensor axon: serves synapses over the SDK's HTTP protocol so that a
 * Python `bittensor.Dendrite` can query it. It follows the SDK's pipeline and
 * status codes: unknown synapse 404, malformed headers or body 400,
 * blacklisted 403, failed verification 401, no first chunk within the
 * synapse timeout 408, anything else 500 with an error id that is also
 * logged. Errors answer `{"message": ...}` with the synapse headers, whose
 * `bt_header_axon_status_*` the dendrite reads.
 *
 * Departures from the SDK, on purpose: a body whose hash does not match the
 * signed `computed_body_hash` is a 401 (the SDK lets it surface as a 500);
 * the nonce window is enforced for every dendrite version and every nonce,
 * and it is fixed (16 s back, 4 s ahead): the caller's `timeout` header is
 * not signed, so it only bounds the generation, never the window.
 */
export class Axon {
  readonly uuid = randomUUID();
  private readonly routes = new Map<string, Route>();
  private readonly verifier: AxonVerifier;
  private readonly maxTimeoutSeconds: number;
  private readonly version: number;
  private readonly listeners: ((outcome: AxonRequestOutcome) => void)[] = [];

  constructor(private readonly options: AxonOptions) {
    this.verifier = options.verifier ?? new AxonVerifier(options.keypair.ss58Address);
    this.maxTimeoutSeconds = options.maxTimeoutSeconds ?? 120;
    this.version = options.version ?? BITTENSOR_VERSION_AS_INT;
    this.attach(PingSynapse, { forward: async () => ({}) });
  }

  get hotkey(): string {
    return this.options.keypair.ss58Address;
  }

  get synapseNames(): string[] {
    return [...this.routes.keys()];
  }

  attach<S extends z.ZodObject>(type: SynapseType<S>, handler: UnaryHandler<z.infer<S>>): this {
    if (type.streaming) throw new Error(`${type.name} is a streaming synapse: use attachStream`);
    this.routes.set(type.name, { type, streaming: false, handler: handler as UnaryHandler<unknown> });
    return this;
  }

  attachStream<S extends z.ZodObject>(type: SynapseType<S>, handler: StreamingHandler<z.infer<S>>): this {
    if (!type.streaming) throw new Error(`${type.name} is not a streaming synapse: use attach`);
    this.routes.set(type.name, { type, streaming: true, handler: handler as StreamingHandler<unknown> });
    return this;
  }

  /** Called once per answered request (after the stream ends for streaming synapses). */
  onOutcome(listener: (outcome: AxonRequestOutcome) => void): void {
    this.listeners.push(listener);
  }

  async handle(request: AxonRequest): Promise<AxonResponse> {
    const started = process.hrtime.bigint();
    const name = request.path.split('?')[0].split('/')[1] ?? '';
    const route = this.routes.get(name);
    const state: RequestState = {
      name,
      timeoutSeconds: DEFAULT_SYNAPSE_TIMEOUT_S,
      axon: { hotkey: this.hotkey },
      dendrite: {},
      bodyHash: '',
      requiredFields: route?.type.requiredFields ?? {},
      started,
    };
    try {
      if (request.method !== 'POST' && request.method !== 'GET') throw new AxonError(405, `Method ${request.method} not allowed`);
      if (!route) {
        throw new AxonError(404, `Synapse name '${name}' not found. Available synapses ${pyRepr(this.synapseNames)}`);
      }
      this.preprocess(request, state);
      const hotkey = state.dendrite.hotkey;
      const { handler } = route;

      if (handler.blacklist) {
        const verdict = await handler.blacklist(hotkey ?? '');
        if (verdict.blocked) throw new AxonError(403, `Forbidden. Key is blacklisted: ${verdict.reason}.`);
      }
      this.verify(state);
      const priority = handler.priority ? await handler.priority(hotkey!) : 0;
      const fields = this.parseBody(route, request.body, state);

      const ctx = this.forwardContext(request.signal, state, fields, priority);
      if (route.streaming) return await this.stream(route.handler as StreamingHandler<unknown>, ctx, state);
      return await this.unary(route, route.handler as UnaryHandler<unknown>, ctx, state);
    } catch (error) {
      return this.errorResponse(error, state);
    }
  }

  /** Reads the caller's synapse headers and signs this axon's side of the exchange, as the SDK's preprocess does. */
  private preprocess(request: AxonRequest, state: RequestState): void {
    try {
      const timeout = headerValue(request.headers, HEADER.timeout);
      if (timeout !== undefined) {
        const seconds = Number(timeout);
        if (!Number.isFinite(seconds) || seconds <= 0) throw new SynapseParseError(`timeout is not a positive number: ${timeout.slice(0, 40)}`);
        state.timeoutSeconds = seconds;
      }
      state.dendrite = terminalFromHeaders(HEADER.dendritePrefix, request.headers);
      const claimedAxon = terminalFromHeaders(HEADER.axonPrefix, request.headers);
      state.bodyHash = headerValue(request.headers, HEADER.bodyHash) ?? '';
      state.claimedAxonHotkey = claimedAxon.hotkey;
      state.axon = { ...claimedAxon, statusCode: undefined, statusMessage: undefined, processTime: undefined };
    } catch (error) {
      if (error instanceof SynapseParseError) throw new AxonError(400, `Improperly formatted request. Could not parse headers: ${error.message}`);
      throw error;
    }
    state.dendrite.ip = request.remoteAddress ?? state.dendrite.ip;
    state.dendrite.port = request.remotePort ?? state.dendrite.port;
    const nonce = timeNs();
    Object.assign(state.axon, { version: this.version, uuid: this.uuid, nonce, hotkey: this.hotkey });
    // The SDK's axon signs `{axon_nonce}.{dendrite_hotkey}.{axon_hotkey}.{axon_uuid}` so a
    // dendrite can tell the answer came from the hotkey it meant to reach.
    state.axon.signature = this.options.keypair.sign(`${nonce}.${state.dendrite.hotkey}.${this.hotkey}.${this.uuid}`);
  }

  private verify(state: RequestState): void {
    const d = state.dendrite;
    try {
      this.verifier.verify(
        {
          nonce: d.nonce,
          dendriteHotkey: d.hotkey,
          axonHotkey: state.claimedAxonHotkey,
          uuid: d.uuid,
          bodyHash: state.bodyHash,
          signature: d.signature,
        },
        state.bodyHash,
      );
    } catch (error) {
      if (error instanceof AuthError) throw new AxonError(401, `Not Verified with error: ${error.message}`);
      throw error;
    }
  }

  private parseBody(route: Route, body: string, state: RequestState): unknown {
    let json: unknown;
    let hash: string;
    try {
      json = body.trim() === '' ? {} : JSON.parse(body);
      hash = body.trim() === '' ? synapseBodyHashOfJson(route.type.requiredHashFields, '{}') : synapseBodyHashOfJson(route.type.requiredHashFields, body);
    } catch {
      throw new AxonError(400, 'Improperly formatted request. The body is not a JSON object.');
    }
    if (hash !== state.bodyHash) {
      throw new AxonError(401, `Not Verified with error: Hash mismatch between header body hash ${state.bodyHash} and parsed body hash ${hash}`);
    }
    const parsed = route.type.schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new AxonError(400, `Improperly formatted request. Field ${issue?.path.join('.') || '(body)'}: ${issue?.message ?? 'invalid'}`);
    }
    return parsed.data;
  }

  private forwardContext(callerSignal: AbortSignal, state: RequestState, fields: unknown, priority: number): ForwardContext<unknown> {
    const timeoutSeconds = Math.min(state.timeoutSeconds, this.maxTimeoutSeconds);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new AxonError(408, `Response timeout after: ${pyNumber(state.timeoutSeconds)}s`)), timeoutSeconds * 1000);
    timer.unref();
    const onCallerGone = () => controller.abort(new AxonError(499, 'caller went away'));
    if (callerSignal.aborted) onCallerGone();
    else callerSignal.addEventListener('abort', onCallerGone, { once: true });
    controller.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    state.cleanup = () => {
      clearTimeout(timer);
      callerSignal.removeEventListener('abort', onCallerGone);
    };
    return { fields, dendrite: { ...state.dendrite, hotkey: state.dendrite.hotkey! }, timeoutSeconds, signal: controller.signal, priority };
  }

  private async stream(handler: StreamingHandler<unknown>, ctx: ForwardContext<unknown>, state: RequestState): Promise<AxonResponse> {
    const iterator = handler.forward(ctx)[Symbol.asyncIterator]();
    // The status line goes out with the first chunk, so failures before it
    // still get their own status code; a later failure can only end the stream.
    const first = await untilAborted(iterator.next(), ctx.signal).catch(async (error: unknown) => {
      await iterator.return?.().catch(() => undefined);
      state.cleanup?.();
      throw error;
    });
    state.axon.statusCode = 200;
    state.axon.statusMessage = 'Success';
    state.axon.processTime = this.elapsedSeconds(state);
    const headers = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...this.synapseHeaders(state) };
    return { status: 200, headers, body: this.streamBody(first, iterator, ctx.signal, state) };
  }

  private async *streamBody(first: IteratorResult<string>, iterator: AsyncIterator<string>, signal: AbortSignal, state: RequestState): AsyncGenerator<string> {
    try {
      if (first.done) return;
      if (first.value) yield first.value;
      for (;;) {
        const next = await untilAborted(iterator.next(), signal);
        if (next.done) return;
        if (next.value) yield next.value;
      }
    } catch (error) {
      const aborted = error instanceof AxonError && (error.status === 408 || error.status === 499);
      if (!aborted) {
        const errorId = randomUUID();
        this.options.logger?.error({ err: error, errorId, synapse: state.name, caller: state.dendrite.hotkey }, 'synapse stream failed after it started');
      }
    } finally {
      await iterator.return?.().catch(() => undefined);
      state.cleanup?.();
      this.emit(state, 200);
    }
  }

  private async unary(route: Route, handler: UnaryHandler<unknown>, ctx: ForwardContext<unknown>, state: RequestState): Promise<AxonResponse> {
    let result: unknown;
    try {
      result = await untilAborted(handler.forward(ctx), ctx.signal);
    } finally {
      state.cleanup?.();
    }
    state.axon.statusCode = 200;
    state.axon.statusMessage = 'Success';
    state.axon.processTime = this.elapsedSeconds(state);
    const fields = { ...(ctx.fields as object), ...(result as object) } as Record<string, PyValue>;
    const synapse: Record<string, PyValue> = {
      name: state.name,
      timeout: state.timeoutSeconds,
      total_size: 0,
      header_size: 0,
      dendrite: terminalToPy(state.dendrite),
      axon: terminalToPy(state.axon),
      computed_body_hash: state.bodyHash,
      ...pickShape(route.type, fields),
    };
    this.emit(state, 200);
    return { status: 200, headers: { 'content-type': 'application/json', ...this.synapseHeaders(state) }, body: pyJsonDumps(synapse) };
  }

  private errorResponse(error: unknown, state: RequestState): AxonResponse {
    let status: number;
    let message: string;
    if (error instanceof AxonError && error.status === 499) {
      // Nobody is left to read the answer; 499 is what proxies log for it.
      status = 499;
      message = error.message;
    } else if (error instanceof AxonError) {
      status = error.status;
      message = error.message;
      this.options.logger?.debug({ synapse: state.name, caller: state.dendrite.hotkey, status, reason: message }, 'synapse request refused');
    } else {
      const errorId = randomUUID();
      status = 500;
      message = `Internal Server Error #${errorId}`;
      this.options.logger?.error({ err: error, errorId, synapse: state.name, caller: state.dendrite.hotkey }, 'synapse request failed');
    }
    state.axon.statusCode = status;
    state.axon.statusMessage = message;
    state.axon.processTime = this.elapsedSeconds(state);
    this.emit(state, status);
    return {
      status,
      headers: { 'content-type': 'application/json', ...this.synapseHeaders(state) },
      body: JSON.stringify({ message }),
    };
  }

  private synapseHeaders(state: RequestState): Record<string, string> {
    return synapseToHeaders({
      name: state.name,
      timeoutSeconds: state.timeoutSeconds,
      axon: state.axon,
      dendrite: state.dendrite,
      requiredFields: state.requiredFields,
      totalSize: 0,
      bodyHash: state.bodyHash,
    });
  }

  private elapsedSeconds(state: RequestState): number {
    return Number(process.hrtime.bigint() - state.started) / Number(NS_PER_S);
  }

  private emit(state: RequestState, status: number): void {
    const outcome = { synapse: state.name, status, caller: state.dendrite.hotkey, seconds: this.elapsedSeconds(state) };
    for (const listener of this.listeners) listener(outcome);
  }
}

interface RequestState {
  name: string;
  timeoutSeconds: number;
  axon: TerminalInfo;
  dendrite: TerminalInfo;
  claimedAxonHotkey?: string;
  bodyHash: string;
  requiredFields: Readonly<Record<string, PyValue>>;
  started: bigint;
  cleanup?: () => void;
}

function pyNumber(seconds: number): string {
  return Number.isInteger(seconds) ? `${seconds}.0` : String(seconds);
}

function pickShape(type: SynapseType<z.ZodObject>, fields: Record<string, PyValue>): Record<string, PyValue> {
  const out: Record<string, PyValue> = {};
  for (const key of Object.keys(type.schema.shape)) out[key] = fields[key] ?? null;
  return out;
}

/** Resolves with `promise`, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
