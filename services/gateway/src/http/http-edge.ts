import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { OpenAIErrorBody } from '../errors/openai-error';

/**
 * The HTTP edge below Nest: what Fastify and Node's HTTP parser answer on
 * their own (an unknown method, an over-long URL or path parameter, a request
 * the parser cannot read) is answered with OpenAI's error object too, with
 * the status the HTTP standard gives it.
 */

/** Longest request target accepted (414 beyond); Node's parser stops at 16 KiB of request line and headers. */
export const MAX_URL_LENGTH = 8192;

/** Methods some route serves; any other method is a 405 wherever it is sent. */
const SERVED_METHODS = new Set(['GET', 'HEAD', 'POST', 'DELETE']);

export function errorBody(
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

function clientErrorBody(status: number, message: string): OpenAIErrorBody {
  return errorBody(message, status >= 500 ? 'server_error' : 'invalid_request_error', codeOf(status));
}

function codeOf(status: number): string {
  switch (status) {
    case 405:
      return 'method_not_allowed';
    case 408:
      return 'request_timeout';
    case 414:
      return 'uri_too_long';
    case 431:
      return 'headers_too_large';
    default:
      return 'invalid_request';
  }
}

/** The routes the app registers, to tell "no such resource" (404) from "not with this method" (405). */
export class RouteTable {
  private readonly routes: { pattern: RegExp; methods: Set<string> }[] = [];

  add(methods: string | string[], url: string): void {
    const pattern = new RegExp(
      `^${url
        .split('/')
        .map((part) =>
          part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
        )
        .join('/')}/?$`,
    );
    let entry = this.routes.find((route) => route.pattern.source === pattern.source);
    if (!entry) {
      entry = { pattern, methods: new Set() };
      this.routes.push(entry);
    }
    for (const method of Array.isArray(methods) ? methods : [methods])
      entry.methods.add(method.toUpperCase());
    if (entry.methods.has('GET')) entry.methods.add('HEAD');
  }

  /** Methods served at a path (no query string), empty when no route matches it. */
  allowed(path: string): string[] {
    const methods = new Set<string>();
    for (const route of this.routes)
      if (route.pattern.test(path)) for (const method of route.methods) methods.add(method);
    return [...methods].sort();
  }
}

/** Fastify server options: the router's and the parser's own errors become OpenAI error objects. */
export function edgeServerOptions(): Omit<FastifyServerOptions, 'bodyLimit' | 'trustProxy'> {
  return {
    // Path parameters are checked by the routes themselves (an unknown id is a 404 like any other).
    routerOptions: { maxParamLength: MAX_URL_LENGTH },
    frameworkErrors: (
      error: Error & { statusCode?: number },
      _request: FastifyRequest,
      reply: FastifyReply,
    ) => {
      const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 400;
      const message =
        status === 414
          ? `The request URL is longer than ${MAX_URL_LENGTH} characters.`
          : status === 400
            ? 'The request URL is malformed.'
            : 'The request could not be routed.';
      void reply
        .code(status)
        .header('Content-Type', 'application/json')
        .send(clientErrorBody(status, message));
    },
    clientErrorHandler: answerClientError,
  };
}

/** Node's HTTP parser refused the request before any route saw it: answer in the API's format, then close. */
export function answerClientError(
  error: Error & { code?: string; rawPacket?: unknown },
  socket: Socket,
): void {
  if (error.code === 'ECONNRESET' || error.code === 'EPIPE' || !socket.writable) {
    socket.destroy();
    return;
  }
  let status = 400;
  let message = 'The request is not valid HTTP.';
  const extra: string[] = [];
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    // Node hands over the bytes it had read: no line end within the URL limit means the request line is the culprit.
    const raw = Buffer.isBuffer(error.rawPacket) ? error.rawPacket : undefined;
    const lineEnd = raw ? raw.indexOf('\r\n') : -1;
    if (lineEnd < 0 || lineEnd > MAX_URL_LENGTH) {
      status = 414;
      message = `The request URL is longer than ${MAX_URL_LENGTH} characters.`;
    } else {
      status = 431;
      message = 'The request headers are too large.';
    }
  } else if (error.code === 'HPE_INVALID_METHOD') {
    status = 405;
    message = 'This method is not supported.';
    extra.push(`Allow: ${[...SERVED_METHODS].sort().join(', ')}`);
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    message = 'The request took too long to arrive.';
  }
  const body = JSON.stringify(clientErrorBody(status, message));
  socket.end(
    [
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
      ...extra,
      '',
      body,
    ].join('\r\n'),
  );
}

/**
 * Hooks on the Fastify instance, installed before the routes are: records
 * every route, answers 414 for an over-long URL and 405 (with `Allow`) for a
 * method a path is not served with, before Nest's "not found" handler would
 * call it a 404.
 */
export function installEdgeHooks(fastify: FastifyInstance): RouteTable {
  const table = new RouteTable();
  fastify.addHook('onRoute', (route) => table.add(route.method, route.url ?? route.path));
  fastify.addHook('onRequest', (request, reply, done) => {
    if (request.url.length > MAX_URL_LENGTH) {
      void reply
        .code(414)
        .header('Content-Type', 'application/json')
        .send(clientErrorBody(414, `The request URL is longer than ${MAX_URL_LENGTH} characters.`));
      return;
    }
    if (request.is404) {
      const path = request.url.split('?')[0];
      const allowed = table.allowed(path);
      const method = request.method.toUpperCase();
      if ((allowed.length > 0 && !allowed.includes(method)) || !SERVED_METHODS.has(method)) {
        void reply
          .code(405)
          .header('Allow', (allowed.length > 0 ? allowed : [...SERVED_METHODS].sort()).join(', '))
          .header('Content-Type', 'application/json')
          .send(
            clientErrorBody(
              405,
              allowed.length > 0
                ? `${method} is not supported on ${path}; use ${allowed.join(', ')}.`
                : `${method} is not supported.`,
            ),
          );
        return;
      }
    }
    done();
  });
  return table;
}
