import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Axon, AxonResponse } from './axon';

export interface AxonHttpServerOptions {
  host?: string;
  port?: number;
  /** Largest request body accepted, in bytes (413 above it). */
  bodyLimit?: number;
}

export interface RunningAxonServer {
  server: Server;
  host: string;
  port: number;
  /** Stops accepting, lets open streams finish for up to `graceMs`, then cuts them. */
  close(graceMs?: number): Promise<void>;
}

/** Plain node:http request listener for an Axon; frameworks can mount `axon.handle` directly instead. */
export function axonRequestListener(axon: Axon, bodyLimit = 1024 * 1024): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    void serve(axon, req, res, controller.signal, bodyLimit).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end();
    });
  };
}

async function serve(axon: Axon, req: IncomingMessage, res: ServerResponse, signal: AbortSignal, bodyLimit: number): Promise<void> {
  let body: string;
  try {
    body = await readBody(req, bodyLimit);
  } catch {
    res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify({ message: `Request body larger than ${bodyLimit} bytes` }));
    return;
  }
  const response = await axon.handle({
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    headers: req.headers,
    body,
    remoteAddress: req.socket.remoteAddress,
    remotePort: req.socket.remotePort,
    signal,
  });
  await writeResponse(res, response);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new Error('body too large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function writeResponse(res: ServerResponse, response: AxonResponse): Promise<void> {
  if (typeof response.body === 'string') {
    res.writeHead(response.status, { ...response.headers, 'content-length': String(Buffer.byteLength(response.body)) });
    res.end(response.body);
    return;
  }
  res.writeHead(response.status, response.headers);
  res.flushHeaders();
  const iterator = response.body[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (res.destroyed) break;
      const next = await iterator.next();
      if (next.done) break;
      if (!res.write(next.value)) await new Promise<void>((resolve) => res.once('drain', resolve).once('close', resolve));
    }
  } finally {
    await iterator.return?.();
    res.end();
  }
}

/** Starts a standalone HTTP server for the axon (the SDK's axon is its own server on its own port, 8091 by default). */
export function startAxonHttpServer(axon: Axon, options: AxonHttpServerOptions = {}): Promise<RunningAxonServer> {
  return startHttpListener(axonRequestListener(axon, options.bodyLimit), options);
}

/** Starts an HTTP server for any listener, with the axon server's streaming-friendly timeouts and graceful close. */
export function startHttpListener(listener: (req: IncomingMessage, res: ServerResponse) => void, options: Omit<AxonHttpServerOptions, 'bodyLimit'> = {}): Promise<RunningAxonServer> {
  const host = options.host ?? '0.0.0.0';
  const server = createServer(listener);
  // Streams last as long as generation does; the synapse timeout bounds them, not the socket.
  server.requestTimeout = 0;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8091, host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      resolve({
        server,
        host,
        port,
        close: (graceMs = 10_000) =>
          new Promise<void>((done) => {
            const force = setTimeout(() => server.closeAllConnections(), graceMs);
            force.unref();
            server.close(() => {
              clearTimeout(force);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}
