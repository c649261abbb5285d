import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  Axon,
  StreamPrompting,
  axonRequestListener,
  startHttpListener,
  type RunningAxonServer,
} from '@chattensor/bittensor';
import { LATENCY_BUCKETS, counter, histogram, rootLogger } from '@chattensor/common';
import { MinerIdentity } from '../identity/miner-identity';
import { AXON_CONFIG, type AxonConfig } from './axon.config';
import { StreamPromptingHandler } from './stream-prompting.handler';
import { ChatCompletionsEndpoint } from './chat-completions.endpoint';

/**
 * The miner's public port (AXON_PORT, the SDK's 8091): the OpenAI-compatible
 * `POST /v1/chat/completions` behind btauth/1, which current-SDK (11.x)
 * validators call with `bittensor.http_auth.sign` and any HTTP client; and,
 * with AXON_LEGACY_SDK10, the SDK-10 axon (`POST /StreamPrompting` and the
 * `Synapse` ping) on the same port for bittensor 10.x validators. The two
 * never overlap: one owns `/v1/`, the other a synapse name.
 */
@Injectable()
export class MinerAxonServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'miner-axon' });
  readonly axon: Axon;
  private running?: RunningAxonServer;
  private readonly requests = counter({
    name: 'chattensor_miner_axon_requests_total',
    help: 'Axon (Bittensor HTTP) requests by synapse and status code',
    labelNames: ['synapse', 'status'],
  });
  private readonly duration = histogram({
    name: 'chattensor_miner_axon_request_duration_seconds',
    help: 'Axon request time, to the end of the stream',
    labelNames: ['synapse'],
    buckets: LATENCY_BUCKETS,
  });

  constructor(
    @Inject(AXON_CONFIG) private readonly config: AxonConfig,
    identity: MinerIdentity,
    handler: StreamPromptingHandler,
    private readonly chat: ChatCompletionsEndpoint,
  ) {
    this.axon = new Axon({
      keypair: identity.hotkey,
      maxTimeoutSeconds: config.maxTimeoutSeconds,
      logger: this.log,
    });
    this.axon.attachStream(StreamPrompting, handler);
    this.axon.onOutcome(({ synapse, status, seconds }) => {
      this.requests.inc({ synapse, status: String(status) });
      this.duration.observe({ synapse }, seconds);
    });
  }

  /** The bound port (useful with AXON_PORT=0). */
  get port(): number {
    return this.running?.port ?? 0;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.enabled) return;
    const legacy = this.config.legacySdk10
      ? axonRequestListener(this.axon, this.config.bodyLimitBytes)
      : undefined;
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      if (ChatCompletionsEndpoint.owns(req.url) || !legacy) this.chat.handle(req, res);
      else legacy(req, res);
    };
    this.running = await startHttpListener(listener, { host: this.config.host, port: this.config.port });
    this.log.info(
      {
        host: this.config.host,
        port: this.running.port,
        hotkey: this.axon.hotkey,
        openai: '/v1/chat/completions (btauth/1)',
        legacySynapses: legacy ? this.axon.synapseNames : [],
      },
      'public port listening',
    );
  }

  /** Stops taking requests and lets streams in flight finish, before the model is unloaded. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.running?.close(10_000);
    this.running = undefined;
  }
}
