import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Axon, StreamPrompting, startAxonHttpServer, type RunningAxonServer } from '@chattensor/bittensor';
import { LATENCY_BUCKETS, counter, histogram, rootLogger } from '@chattensor/common';
import { MinerIdentity } from '../identity/miner-identity';
import { AXON_CONFIG, type AxonConfig } from './axon.config';
import { StreamPromptingHandler } from './stream-prompting.handler';

/**
 * The miner's Bittensor axon: the SDK's HTTP protocol on its own port, so
 * Python validators can query this miner with `bittensor.Dendrite`.
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
  ) {
    this.axon = new Axon({ keypair: identity.hotkey, maxTimeoutSeconds: config.maxTimeoutSeconds, logger: this.log });
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
    this.running = await startAxonHttpServer(this.axon, { host: this.config.host, port: this.config.port, bodyLimit: this.config.bodyLimitBytes });
    this.log.info({ host: this.config.host, port: this.running.port, hotkey: this.axon.hotkey, synapses: this.axon.synapseNames }, 'axon listening');
  }

  /** Stops taking requests and lets streams in flight finish, before the model is unloaded. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.running?.close(10_000);
    this.running = undefined;
  }
}
