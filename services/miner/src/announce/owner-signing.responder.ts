import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Subscription } from 'nats';
import { signServeAxonRequest } from '@chattensor/bittensor';
import { NatsService, counter, rootLogger } from '@chattensor/common';
import {
  Subjects,
  decodeJson,
  encodeJson,
  signingRequestSchema,
  type SigningResponse,
} from '@chattensor/protocol';
import { MINER_CONFIG, type MinerConfig } from '../config/miner.config';
import { MinerIdentity } from '../identity/miner-identity';
import { AxonRegistrationService } from './axon-registration.service';

/** Queue group of a hotkey's signers: one pod of a miner fleet answers each request. */
const QUEUE = 'miner-signer';

/**
 * Chain mode: serve_axon must be signed by the miner's own hotkey, which only
 * the miner holds. The chain-indexer builds the extrinsic (nonce, era, chain)
 * and asks on `chain.sign.<hotkey>`; this answers with the signature, after
 * checking that the call is serve_axon with exactly this miner's axon and
 * carries no tip. Anything else is refused with the reason.
 */
@Injectable()
export class OwnerSigningResponder implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = rootLogger().child({ component: 'owner-signing' });
  private subscription?: Subscription;
  private readonly answered = counter({
    name: 'chattensor_miner_signing_requests_total',
    help: 'Signing requests from the chain-indexer, by outcome (signed, refused)',
    labelNames: ['outcome'],
  });

  constructor(
    @Inject(MINER_CONFIG) private readonly config: MinerConfig,
    private readonly nats: NatsService,
    private readonly identity: MinerIdentity,
    private readonly registration: AxonRegistrationService,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.chainMode !== 'subtensor' || !(this.config.serveAxon || this.config.serveAxonService))
      return;
    const hotkey = this.identity.hotkey.ss58Address;
    this.subscription = this.nats.nc.subscribe(Subjects.signer(hotkey), {
      queue: QUEUE,
      callback: (error, message) => {
        if (error) return;
        let answer: SigningResponse;
        const decoded = decodeJson(signingRequestSchema, message.data);
        if (!decoded.ok) answer = { error: `invalid signing request: ${decoded.error}` };
        else {
          // Exactly the axon this miner asks for now (from its config or its Service's address).
          const expected = this.registration.requested;
          try {
            if (!expected) throw new Error('this miner has not asked for a serve_axon');
            answer = { signature: signServeAxonRequest(this.identity.hotkey, decoded.value, expected) };
          } catch (refused) {
            answer = { error: (refused as Error).message };
          }
        }
        const outcome = 'signature' in answer ? 'signed' : 'refused';
        this.answered.inc({ outcome });
        this.log[outcome === 'signed' ? 'info' : 'warn'](
          {
            call: decoded.ok ? decoded.value.call : undefined,
            nonce: decoded.ok ? decoded.value.nonce : undefined,
            outcome,
            error: 'error' in answer ? answer.error : undefined,
          },
          outcome === 'signed' ? 'signed an extrinsic built by the chain-indexer' : 'refused to sign',
        );
        if (message.reply) message.respond(encodeJson(answer));
      },
    });
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }
}
