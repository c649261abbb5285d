import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { ApiPromise, WsProvider } from '@polkadot/api';
import { rootLogger } from '@chattensor/common';
import { SUBTENSOR_CONFIG, type SubtensorConfig } from './subtensor.config';
import { SubtensorMetrics } from './subtensor.metrics';

export interface ChainSession {
  api: ApiPromise;
  endpoint: string;
}

type SessionListener = (session: ChainSession) => void | Promise<void>;

/**
 * Subtensor's transaction extension carries no payload in the runtimes seen so
 * far; declaring it keeps @polkadot/api from warning on every start.
 */
export const SUBTENSOR_SIGNED_EXTENSIONS = {
  SubtensorTransactionExtension: { extrinsic: {}, payload: {} },
};

/** Exponential backoff with full jitter, capped. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.max(minMs, Math.round(ceiling * random()));
}

/**
 * The indexer's link to a Subtensor node: connects to the configured
 * endpoints in turn, and after a failure or a lost connection tries the next
 * one with exponential backoff. Each live connection is a session; listeners
 * hear of it and of its end, so followers resubscribe from where they were.
 */
@Injectable()
export class SubtensorConnection implements OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'subtensor-connection' });
  private session?: ChainSession;
  private readonly onOpen: SessionListener[] = [];
  private readonly onClose: SessionListener[] = [];
  private stopped = false;
  private running?: Promise<void>;
  private wake?: () => void;

  constructor(
    @Inject(SUBTENSOR_CONFIG) private readonly config: SubtensorConfig,
    private readonly metrics: SubtensorMetrics,
  ) {}

  get current(): ChainSession | undefined {
    return this.session;
  }

  onSession(open: SessionListener, close?: SessionListener): void {
    this.onOpen.push(open);
    if (close) this.onClose.push(close);
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Resolves with a connected API, waiting for one up to `timeoutMs`. */
  async ready(timeoutMs: number): Promise<ChainSession> {
    const deadline = Date.now() + timeoutMs;
    while (!this.session) {
      if (Date.now() > deadline || this.stopped) throw new Error('no Subtensor node connected');
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.session;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    let index = 0;
    while (!this.stopped) {
      const endpoint = this.config.endpoints[index % this.config.endpoints.length];
      let api: ApiPromise | undefined;
      try {
        api = await this.open(endpoint);
        const session = { api, endpoint };
        const closed = new Promise<void>((resolve) => {
          api!.once('disconnected', () => resolve());
          api!.once('error', () => resolve());
          this.wake = resolve;
        });
        this.session = session;
        attempt = 0;
        this.metrics.connected.set({ endpoint }, 1);
        this.log.info(
          { endpoint, spec: api.runtimeVersion.specVersion.toNumber(), chain: api.runtimeChain.toString() },
          'connected to Subtensor',
        );
        await this.notify(this.onOpen, session);
        await closed;
        this.session = undefined;
        this.metrics.connected.set({ endpoint }, 0);
        if (!this.stopped) this.log.warn({ endpoint }, 'lost the connection to Subtensor');
        await this.notify(this.onClose, session);
      } catch (error) {
        this.log.warn({ endpoint, err: (error as Error).message }, 'could not connect to Subtensor');
      } finally {
        await api?.disconnect().catch(() => undefined);
      }
      if (this.stopped) break;
      index++;
      const delay = backoffDelay(attempt++, this.config.reconnect.minMs, this.config.reconnect.maxMs);
      this.metrics.reconnects.inc();
      this.log.info(
        { next: this.config.endpoints[index % this.config.endpoints.length], delayMs: delay },
        'reconnecting',
      );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private async open(endpoint: string): Promise<ApiPromise> {
    // No automatic reconnect inside the provider: this class owns failover and backoff.
    const provider = new WsProvider(endpoint, false, {}, this.config.rpcTimeoutMs);
    try {
      await withTimeout(provider.connect(), this.config.rpcTimeoutMs, `connect to ${endpoint}`);
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          if (provider.isConnected) return resolve();
          const offConnected = provider.on('connected', () => {
            offConnected();
            offError();
            resolve();
          });
          const offError = provider.on('error', (error: unknown) => {
            offConnected();
            offError();
            reject(error instanceof Error ? error : new Error(`cannot reach ${endpoint}`));
          });
        }),
        this.config.rpcTimeoutMs,
        `connect to ${endpoint}`,
      );
      return await withTimeout(
        ApiPromise.create({
          provider,
          noInitWarn: true,
          throwOnConnect: true,
          signedExtensions: SUBTENSOR_SIGNED_EXTENSIONS,
        }),
        this.config.rpcTimeoutMs,
        `load metadata from ${endpoint}`,
      );
    } catch (error) {
      await provider.disconnect().catch(() => undefined);
      throw error;
    }
  }

  private async notify(listeners: SessionListener[], session: ChainSession): Promise<void> {
    for (const listener of listeners) {
      try {
        await listener(session);
      } catch (error) {
        this.log.error({ err: (error as Error).message }, 'session listener failed');
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.session?.api.disconnect().catch(() => undefined);
    await this.running;
  }
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
