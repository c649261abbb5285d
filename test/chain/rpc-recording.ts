/**
 * JSON-RPC over a real websocket: a recording proxy in front of a Subtensor
 * node, and a replay server that answers from what was recorded. CI runs the
 * indexer against the replay server, so it sees the real runtime's bytes
 * without a chain.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

export interface RecordedCall {
  method: string;
  params: unknown[];
  result?: unknown;
  error?: unknown;
}

export interface RecordedSubscription {
  method: string;
  params: unknown[];
  /** Name of the notification messages (e.g. `chain_finalizedHead`). */
  notification?: string;
  results: unknown[];
}

export interface Recording {
  note: string;
  calls: RecordedCall[];
  subscriptions: RecordedSubscription[];
}

interface JsonRpcMessage {
  id?: number | string;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: unknown;
}

const key = (method: string, params: unknown) => `${method} ${JSON.stringify(params ?? [])}`;

function parse(data: RawData): JsonRpcMessage | undefined {
  try {
    const text = Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : Buffer.from(data).toString('utf8');
    return JSON.parse(text) as JsonRpcMessage;
  } catch {
    return undefined;
  }
}

/** Forwards every client to `upstream` and records each answered call and each subscription's notifications. */
export class RecordingProxy {
  private server?: WebSocketServer;
  readonly calls: RecordedCall[] = [];
  readonly subscriptions: RecordedSubscription[] = [];

  /**
   * `record: false` only forwards (the live suite puts one in front of the
   * node so that it can cut connections and point them at another node).
   */
  constructor(
    private upstream: string,
    private readonly options: { record: boolean } = { record: true },
  ) {}

  /** New connections go to `upstream` (a restarted node at another address). */
  retarget(upstream: string): void {
    this.upstream = upstream;
  }

  async start(): Promise<string> {
    this.server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => this.server!.once('listening', () => resolve()));
    this.server.on('connection', (client) => this.bridge(client));
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private bridge(client: WebSocket): void {
    const upstream = new WebSocket(this.upstream);
    const backlog: RawData[] = [];
    const pending = new Map<string, { method: string; params: unknown[] }>();
    const bySubscriptionId = new Map<string, RecordedSubscription>();
    upstream.on('open', () => backlog.splice(0).forEach((m) => upstream.send(m)));
    client.on('message', (data) => {
      const message = parse(data);
      if (message?.id !== undefined && message.method) {
        pending.set(String(message.id), {
          method: message.method,
          params: (message.params as unknown[]) ?? [],
        });
      }
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data);
      else backlog.push(data);
    });
    upstream.on('message', (data) => {
      const message = parse(data);
      if (message?.id !== undefined && pending.has(String(message.id))) {
        const request = pending.get(String(message.id))!;
        pending.delete(String(message.id));
        if (/_subscribe|_watch/i.test(request.method) && message.result !== undefined) {
          const subscription: RecordedSubscription = { ...request, results: [] };
          if (this.options.record) this.subscriptions.push(subscription);
          bySubscriptionId.set(JSON.stringify(message.result), subscription);
        } else if (!/_unsubscribe/i.test(request.method)) {
          if (this.options.record)
            this.calls.push({
              ...request,
              ...(message.error !== undefined ? { error: message.error } : { result: message.result }),
            });
        }
      } else if (message?.method && message.params && typeof message.params === 'object') {
        const { subscription, result } = message.params as { subscription: string; result: unknown };
        const recorded = bySubscriptionId.get(JSON.stringify(subscription));
        if (recorded && this.options.record) {
          recorded.notification = message.method;
          recorded.results.push(result);
        }
      }
      client.send(data);
    });
    client.on('close', () => upstream.close());
    upstream.on('close', () => client.close());
    upstream.on('error', () => client.close());
  }

  /** Closes every client connection, as a node restart would (the follower reconnects through the proxy). */
  dropClients(): void {
    for (const client of this.server?.clients ?? []) client.terminate();
  }

  recording(note: string): Recording {
    return { note, calls: this.calls, subscriptions: this.subscriptions };
  }

  save(path: string, note: string): void {
    writeFileSync(path, `${JSON.stringify(this.recording(note))}\n`);
  }

  async stop(): Promise<void> {
    for (const client of this.server?.clients ?? []) client.terminate();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/**
 * Answers JSON-RPC from a recording. A call recorded several times with the
 * same parameters (e.g. `chain_getHeader` with none) answers the recorded
 * results in order, then repeats the last. Subscriptions replay their
 * notifications `intervalMs` apart. Anything not recorded is an error, so a
 * test notices when the indexer asks for something new.
 */
export class ReplayServer {
  private server?: WebSocketServer;
  private readonly answers = new Map<string, RecordedCall[]>();
  private readonly served = new Map<string, number>();
  readonly unknown: string[] = [];

  constructor(
    private readonly recording: Recording,
    private readonly intervalMs = 10,
  ) {
    for (const call of recording.calls) {
      const k = key(call.method, call.params);
      this.answers.set(k, [...(this.answers.get(k) ?? []), call]);
    }
  }

  static fromFile(path: string, intervalMs?: number): ReplayServer {
    return new ReplayServer(JSON.parse(readFileSync(path, 'utf8')) as Recording, intervalMs);
  }

  async start(): Promise<string> {
    this.server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => this.server!.once('listening', () => resolve()));
    this.server.on('connection', (socket) => this.serve(socket));
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Closes every client connection, as a node restart would. */
  dropClients(): void {
    for (const client of this.server?.clients ?? []) client.terminate();
  }

  private serve(socket: WebSocket): void {
    let nextSubscription = 1;
    const timers: NodeJS.Timeout[] = [];
    socket.on('close', () => timers.forEach(clearTimeout));
    socket.on('message', (data) => {
      const message = parse(data);
      if (!message?.method || message.id === undefined) return;
      const reply = (body: object) =>
        socket.readyState === WebSocket.OPEN &&
        socket.send(JSON.stringify({ jsonrpc: '2.0', id: message.id, ...body }));
      const params = (message.params as unknown[]) ?? [];
      if (/_unsubscribe/i.test(message.method)) return reply({ result: true });
      const subscription = this.recording.subscriptions.find(
        (s) => s.method === message.method && JSON.stringify(s.params) === JSON.stringify(params),
      );
      if (subscription) {
        const id = `replay-${nextSubscription++}`;
        reply({ result: id });
        subscription.results.forEach((result, i) => {
          timers.push(
            setTimeout(
              () => {
                if (socket.readyState === WebSocket.OPEN) {
                  socket.send(
                    JSON.stringify({
                      jsonrpc: '2.0',
                      method: subscription.notification,
                      params: { subscription: id, result },
                    }),
                  );
                }
              },
              (i + 1) * this.intervalMs,
            ),
          );
        });
        return;
      }
      const k = key(message.method, params);
      const answers = this.answers.get(k);
      if (!answers) {
        this.unknown.push(k);
        return reply({ error: { code: -32601, message: `not recorded: ${k.slice(0, 200)}` } });
      }
      const index = Math.min(this.served.get(k) ?? 0, answers.length - 1);
      this.served.set(k, index + 1);
      const answer = answers[index];
      reply(answer.error !== undefined ? { error: answer.error } : { result: answer.result });
    });
  }

  async stop(): Promise<void> {
    for (const client of this.server?.clients ?? []) client.terminate();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
