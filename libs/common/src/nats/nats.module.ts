import {
  Global,
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  connect,
  DebugEvents,
  Events,
  nkeyAuthenticator,
  tokenAuthenticator,
  type Authenticator,
  type NatsConnection,
  type KV,
  type KvOptions,
} from 'nats';
import { baseEnvSchema, ConfigError, parseEnv } from '../config/config.util';
import { rootLogger } from '../logging/logger';
import { ReadinessRegistry } from '../health/readiness.registry';

export const NATS_OPTIONS = Symbol('NATS_OPTIONS');

export interface NatsModuleOptions {
  servers: string[];
  /** Connection name shown by the server's monitoring endpoints. */
  name: string;
  /** Credentials; default: NATS_TOKEN or NATS_NKEY_SEED of the environment (validated with the service's config). */
  auth?: NatsAuth;
}

export type NatsAuth = { token: string } | { nkeySeed: string } | Record<string, never>;

/** NATS credentials from NATS_TOKEN / NATS_NKEY_SEED (at most one of them). */
export function natsAuthFromEnv(source: NodeJS.ProcessEnv = process.env): NatsAuth {
  const e = parseEnv(baseEnvSchema.pick({ NATS_TOKEN: true, NATS_NKEY_SEED: true }), source);
  if (e.NATS_TOKEN && e.NATS_NKEY_SEED) {
    throw new ConfigError([
      { variable: 'NATS_TOKEN', problem: 'set NATS_TOKEN or NATS_NKEY_SEED, not both' },
    ]);
  }
  if (e.NATS_TOKEN) return { token: e.NATS_TOKEN };
  if (e.NATS_NKEY_SEED) return { nkeySeed: e.NATS_NKEY_SEED };
  return {};
}

function authenticatorOf(auth: NatsAuth): Authenticator | undefined {
  if ('token' in auth) return tokenAuthenticator(auth.token);
  if ('nkeySeed' in auth) return nkeyAuthenticator(new TextEncoder().encode(auth.nkeySeed));
  return undefined;
}

/**
 * The process's NATS connection. Reconnects forever (the NATS client's own
 * backoff); readiness follows the connection state; shutdown drains, so
 * in-flight messages are delivered before the process exits.
 */
@Injectable()
export class NatsService implements OnApplicationShutdown {
  private connection?: NatsConnection;
  private readonly kvs = new Map<string, Promise<KV>>();

  constructor(
    @Inject(NATS_OPTIONS) private readonly options: NatsModuleOptions,
    readiness: ReadinessRegistry,
  ) {
    readiness.register('nats', () =>
      this.connection && !this.connection.isClosed() && !this.reconnecting ? true : 'not connected to NATS',
    );
  }

  private reconnecting = false;

  async connect(): Promise<NatsConnection> {
    const log = rootLogger().child({ component: 'nats' });
    this.connection = await connect({
      servers: this.options.servers,
      name: this.options.name,
      authenticator: authenticatorOf(this.options.auth ?? natsAuthFromEnv()),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      waitOnFirstConnect: true,
      timeout: 5000,
    });
    log.info({ server: this.connection.getServer() }, 'connected to NATS');
    void (async () => {
      for await (const status of this.connection!.status()) {
        if (status.type === Events.Disconnect || status.type === DebugEvents.Reconnecting)
          this.reconnecting = true;
        if (status.type === Events.Reconnect) this.reconnecting = false;
        if (status.type !== DebugEvents.PingTimer)
          log.info({ status: status.type, data: status.data }, 'NATS status');
      }
    })();
    return this.connection;
  }

  get nc(): NatsConnection {
    if (!this.connection) throw new Error('NATS is not connected yet');
    return this.connection;
  }

  /** A JetStream key-value bucket, created with the given options if it does not exist. */
  kv(bucket: string, options: Partial<KvOptions> = {}): Promise<KV> {
    let kv = this.kvs.get(bucket);
    if (!kv) {
      kv = this.nc.jetstream().views.kv(bucket, options);
      kv.catch(() => this.kvs.delete(bucket));
      this.kvs.set(bucket, kv);
    }
    return kv;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.connection && !this.connection.isClosed()) {
      await this.connection.drain().catch(() => undefined);
    }
  }
}

@Global()
@Module({})
export class NatsModule {
  static forRoot(options: NatsModuleOptions): DynamicModule {
    return {
      module: NatsModule,
      providers: [
        { provide: NATS_OPTIONS, useValue: options },
        {
          provide: NatsService,
          inject: [NATS_OPTIONS, ReadinessRegistry],
          useFactory: async (opts: NatsModuleOptions, readiness: ReadinessRegistry) => {
            const service = new NatsService(opts, readiness);
            await service.connect();
            return service;
          },
        },
      ],
      exports: [NatsService],
    };
  }
}
