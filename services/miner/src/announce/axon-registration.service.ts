import type { ServeAxonArgs } from '@chattensor/bittensor';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { NatsService, counter, rootLogger } from '@chattensor/common';
import {
  Subjects,
  decodeJson,
  encodeJson,
  extrinsicOutcomeSchema,
  type ServeAxonRequest,
} from '@chattensor/protocol';
import { MINER_CONFIG, type MinerConfig } from '../config/miner.config';
import { MinerIdentity } from '../identity/miner-identity';
import { GenerationService } from '../generation/generation.service';
import { discoverServiceEndpoint, inClusterApi, parseServiceRef } from './service-endpoint';
import { serveAxonArgsOf } from './serve-axon-args.util';

const RETRY_MIN_MS = 5_000;
const RETRY_MAX_MS = 300_000;

/**
 * Chain mode: once the model is warm, asks the chain-indexer (the only
 * extrinsic writer) to register this miner's public axon with serve_axon.
 * The indexer builds the extrinsic and has it signed by this miner's hotkey
 * (`OwnerSigningResponder` answers its signing request). Every pod of a
 * miner fleet asks; the indexer skips the call when the chain already holds
 * the same record. A failure is retried with backoff.
 */
@Injectable()
export class AxonRegistrationService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'axon-registration' });
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** The serve_axon last asked of the chain-indexer: the only one the owner-signing responder signs. */
  requested?: ServeAxonArgs;
  private readonly outcomes = counter({
    name: 'chattensor_miner_serve_axon_requests_total',
    help: 'serve_axon requests sent to the chain-indexer, by outcome',
    labelNames: ['outcome'],
  });

  constructor(
    @Inject(MINER_CONFIG) private readonly config: MinerConfig,
    private readonly nats: NatsService,
    private readonly identity: MinerIdentity,
    private readonly generation: GenerationService,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.chainMode !== 'subtensor') return;
    if (!this.config.serveAxon && !this.config.serveAxonService) {
      this.log.warn(
        'neither AXON_EXTERNAL_IP nor AXON_EXTERNAL_SERVICE is set: the axon is not registered on chain by this miner',
      );
      return;
    }
    this.schedule(0, RETRY_MIN_MS);
  }

  private schedule(delayMs: number, nextDelayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.register()
        .then((done) => {
          if (!done) this.schedule(nextDelayMs, Math.min(nextDelayMs * 2, RETRY_MAX_MS));
        })
        .catch((error: unknown) => {
          this.outcomes.inc({ outcome: 'error' });
          this.log.warn({ err: error }, 'serve_axon request failed; retrying');
          this.schedule(nextDelayMs, Math.min(nextDelayMs * 2, RETRY_MAX_MS));
        });
    }, delayMs);
    this.timer.unref();
  }

  /** Returns true when the chain has (or already had) our axon. */
  private async register(): Promise<boolean> {
    if (!this.generation.ready) return false;
    const address = this.config.serveAxon ?? (await this.discoverTarget());
    if (!address) return false;
    const target = serveAxonArgsOf(this.config.netuid, address);
    this.requested = target;
    const request: ServeAxonRequest = {
      v: 1,
      netuid: target.netuid,
      hotkey: this.identity.hotkey.ss58Address,
      ip: target.ip,
      port: target.port,
      protocol: target.protocol,
      version: target.version,
    };
    const reply = await this.nats.nc.request(Subjects.extrinsics('serve_axon'), encodeJson(request), {
      timeout: 180_000,
    });
    const decoded = decodeJson(extrinsicOutcomeSchema, reply.data);
    if (!decoded.ok) throw new Error(`invalid answer from the chain-indexer: ${decoded.error}`);
    this.outcomes.inc({ outcome: decoded.value.outcome });
    if (decoded.value.outcome === 'failed' || decoded.value.outcome === 'deferred') {
      this.log.warn(
        { outcome: decoded.value.outcome, error: decoded.value.error ?? decoded.value.moduleError },
        'serve_axon not done; retrying',
      );
      return false;
    }
    this.log.info(
      { outcome: decoded.value.outcome, ip: target.ip, port: target.port, block: decoded.value.block },
      'axon registered on chain',
    );
    return true;
  }

  /** The LoadBalancer Service's address, or undefined while it has none yet. */
  private async discoverTarget(): Promise<{ ip: string; port: number } | undefined> {
    const found = await discoverServiceEndpoint(
      inClusterApi(),
      parseServiceRef(this.config.serveAxonService!),
    );
    if (!found)
      this.log.info({ service: this.config.serveAxonService }, 'the load balancer has no address yet');
    return found;
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
