import { randomInt } from 'node:crypto';
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { ApiPromise } from '@polkadot/api';
import type { IKeyringPair } from '@polkadot/types/types';
import { convertWeightsAndUidsForEmit, generateWeightHash, ipToInt } from '@chattensor/bittensor';
import { rootLogger } from '@chattensor/common';
import type { ExtrinsicOutcome, ServeAxonRequest, SetWeightsRequest } from '@chattensor/protocol';
import { unservableReason } from './axon.util';
import { SubtensorConnection, type ChainSession } from './chain-connection';
import { big, bool, field, list, num, unwrap } from './chain-values.util';
import { ChainFollower } from './chain-follower.service';
import { ExtrinsicSubmitter, type WaitFor } from './extrinsic-submitter';
import { loadSigningPair } from './hotkey.signer';
import type { BlockRef } from './metagraph.reader';
import { PendingRevealStore, type PendingReveal } from './pending-reveals.store';
import { SUBTENSOR_CONFIG, type SubtensorConfig } from './subtensor.config';
import { SubtensorMetrics } from './subtensor.metrics';
import { nextEligibleBlock, revealWindow } from './weights-window.util';

/** Salt length the Python SDK uses for hash commits. */
const SALT_LENGTH = 8;

/** What the drand timelock path (`commit_crv3_weights` / `commit_timelocked_weights`) would need; see docs/chain.md. */
export const TIMELOCK_UNSUPPORTED =
  'this subnet needs drand timelock commit-reveal (commit_crv3_weights / commit_timelocked_weights), which the indexer cannot encrypt: ' +
  "it needs the `tle` crate's Boneh-Franklin IBE over BLS12-381 against drand quicknet's public key, ark-serialize ciphertext encoding, " +
  'and the reveal round from quicknet genesis and period; no such JavaScript implementation is available';

interface WeightsState {
  best: BlockRef;
  uid?: number;
  lastUpdate: number;
  rateLimit: number;
  versionKey: number;
  commitReveal: boolean;
  tempo: number;
  revealPeriod: number;
}

/**
 * The cluster's only extrinsic writer. Requests come from NATS (validators
 * setting weights, miners serving axons); the indexer signs with its hotkey,
 * checks what the chain would refuse before sending (rate limits, identical
 * axon records), and answers every request with what happened on chain.
 */
@Injectable()
export class ExtrinsicWriter implements OnApplicationBootstrap {
  private readonly log = rootLogger().child({ component: 'extrinsic-writer' });
  private readonly submitter = new ExtrinsicSubmitter();
  private signer?: IKeyringPair;
  private revealing = false;

  constructor(
    @Inject(SUBTENSOR_CONFIG) private readonly config: SubtensorConfig,
    private readonly connection: SubtensorConnection,
    private readonly follower: ChainFollower,
    private readonly reveals: PendingRevealStore,
    private readonly metrics: SubtensorMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.hotkey) {
      this.signer = await loadSigningPair(this.config.hotkey);
      this.log.info({ hotkey: this.signer.address }, 'extrinsics are signed with this hotkey');
    } else {
      this.log.warn('no hotkey configured (HOTKEY_URI or WALLET_PATH): extrinsic requests will be refused');
    }
    this.follower.onFinalizedBlock((block, session) => this.revealDue(block, session));
  }

  get hotkey(): string | undefined {
    return this.signer?.address;
  }

  async setWeights(request: SetWeightsRequest): Promise<ExtrinsicOutcome> {
    const outcome = await this.guard('set_weights', request.hotkey, (session, signer) =>
      this.doSetWeights(session, signer, request),
    );
    this.metrics.extrinsics.inc({ call: 'set_weights', outcome: outcome.outcome });
    return outcome;
  }

  async serveAxon(request: ServeAxonRequest): Promise<ExtrinsicOutcome> {
    const outcome = await this.guard('serve_axon', request.hotkey, (session, signer) =>
      this.doServeAxon(session, signer, request),
    );
    this.metrics.extrinsics.inc({ call: 'serve_axon', outcome: outcome.outcome });
    return outcome;
  }

  private async guard(
    call: string,
    hotkey: string,
    run: (session: ChainSession, signer: IKeyringPair) => Promise<ExtrinsicOutcome>,
  ): Promise<ExtrinsicOutcome> {
    if (!this.signer) return { outcome: 'failed', call, error: 'this indexer has no hotkey to sign with' };
    if (hotkey !== this.signer.address) {
      return {
        outcome: 'failed',
        call,
        error: `this indexer signs as ${this.signer.address}, not as ${hotkey}`,
      };
    }
    const session = this.connection.current;
    if (!session) return { outcome: 'failed', call, error: 'not connected to a Subtensor node' };
    try {
      return await run(session, this.signer);
    } catch (error) {
      this.log.error({ call, err: (error as Error).message }, 'extrinsic request failed');
      return { outcome: 'failed', call, error: (error as Error).message };
    }
  }

  private async doSetWeights(
    session: ChainSession,
    signer: IKeyringPair,
    request: SetWeightsRequest,
  ): Promise<ExtrinsicOutcome> {
    const { api } = session;
    if (request.uids.length !== request.weights.length)
      return { outcome: 'failed', call: 'set_weights', error: 'uids and weights differ in length' };
    const { uids, weights } = convertWeightsAndUidsForEmit(request.uids, request.weights);
    if (uids.length === 0)
      return { outcome: 'failed', call: 'set_weights', error: 'every weight is zero: nothing to set' };
    const state = await this.weightsState(api, request.netuid, signer.address);
    if (state.uid === undefined) {
      return {
        outcome: 'failed',
        call: 'set_weights',
        error: `hotkey ${signer.address} is not registered on netuid ${request.netuid}`,
      };
    }
    const eligible = nextEligibleBlock(state.lastUpdate, state.rateLimit, state.best.number + 1);
    if (eligible !== undefined) {
      this.log.info(
        { netuid: request.netuid, lastUpdate: state.lastUpdate, eligible },
        'weights deferred by WeightsSetRateLimit',
      );
      return {
        outcome: 'deferred',
        call: state.commitReveal ? 'commit_weights' : 'set_weights',
        block: state.best.number,
        nextEligibleBlock: eligible,
      };
    }
    const waitFor = request.waitFor ?? 'finalized';
    const tx = api.tx.subtensorModule;
    if (!state.commitReveal) {
      return this.submit(
        api,
        'set_weights',
        tx.setWeights(request.netuid, uids, weights, state.versionKey),
        signer,
        waitFor,
      );
    }
    if (!tx.commitWeights || !tx.revealWeights)
      return { outcome: 'failed', call: 'commit_weights', error: TIMELOCK_UNSUPPORTED };
    const salt = Array.from({ length: SALT_LENGTH }, () => randomInt(0, 65_536));
    const commitHash = generateWeightHash({
      hotkey: signer.address,
      netuid: request.netuid,
      uids,
      weights,
      salt,
      versionKey: state.versionKey,
    });
    const outcome = await this.submit(
      api,
      'commit_weights',
      tx.commitWeights(request.netuid, commitHash),
      signer,
      waitFor,
    );
    if ((outcome.outcome === 'in_block' || outcome.outcome === 'finalized') && outcome.block !== undefined) {
      const window = revealWindow(request.netuid, state.tempo, state.revealPeriod, outcome.block);
      await this.reveals.add({
        netuid: request.netuid,
        hotkey: signer.address,
        uids,
        weights,
        salt,
        versionKey: state.versionKey,
        commitHash,
        commitBlock: outcome.block,
        ...window,
      });
      return { ...outcome, reveal: window };
    }
    return outcome;
  }

  /**
   * Reveals every pending commit whose window the next block falls in; drops
   * those past it. Runs on each processed finalized block, but judges by the
   * best block: that is where the reveal will be included, and a follower
   * catching up must not reveal by a block long gone.
   */
  private async revealDue(_processed: BlockRef, session: ChainSession): Promise<void> {
    if (!this.signer || this.revealing) return;
    this.revealing = true;
    try {
      const next = (await this.bestBlock(session.api)).number + 1;
      for (const pending of await this.reveals.list(this.signer.address)) {
        if (next > pending.lastBlock) {
          this.log.error(
            {
              netuid: pending.netuid,
              commitBlock: pending.commitBlock,
              window: [pending.firstBlock, pending.lastBlock],
            },
            'reveal window missed',
          );
          this.metrics.extrinsics.inc({ call: 'reveal_weights', outcome: 'failed' });
          await this.reveals.remove(pending);
          continue;
        }
        if (next < pending.firstBlock) continue;
        await this.reveal(session, this.signer, pending);
      }
    } finally {
      this.revealing = false;
    }
  }

  private async reveal(session: ChainSession, signer: IKeyringPair, pending: PendingReveal): Promise<void> {
    const tx = session.api.tx.subtensorModule.revealWeights(
      pending.netuid,
      pending.uids,
      pending.weights,
      pending.salt,
      pending.versionKey,
    );
    const outcome = await this.submit(session.api, 'reveal_weights', tx, signer, 'in_block');
    this.metrics.extrinsics.inc({ call: 'reveal_weights', outcome: outcome.outcome });
    if (outcome.outcome === 'failed') {
      this.log.error(
        {
          netuid: pending.netuid,
          commitBlock: pending.commitBlock,
          error: outcome.moduleError ?? outcome.error,
        },
        'reveal failed',
      );
      // A commit the chain no longer knows cannot be revealed later either.
      if (outcome.moduleError) await this.reveals.remove(pending);
      return;
    }
    this.log.info(
      { netuid: pending.netuid, commitBlock: pending.commitBlock, block: outcome.block },
      'weights revealed',
    );
    await this.reveals.remove(pending);
  }

  private async doServeAxon(
    session: ChainSession,
    signer: IKeyringPair,
    request: ServeAxonRequest,
  ): Promise<ExtrinsicOutcome> {
    const { api } = session;
    const refused = unservableReason(request.ip);
    if (refused) return { outcome: 'failed', call: 'serve_axon', error: refused };
    const { ip, ipType } = ipToInt(request.ip);
    const best = await this.bestBlock(api);
    const at = await api.at(best.hash);
    const q = at.query.subtensorModule;
    const current = unwrap(await q.axons(request.netuid, signer.address));
    const same =
      current !== undefined &&
      big(field(current, 'ip')) === ip &&
      num(field(current, 'ipType')) === ipType &&
      num(field(current, 'port')) === request.port &&
      num(field(current, 'protocol')) === request.protocol &&
      num(field(current, 'version')) === request.version;
    if (same) return { outcome: 'skipped', call: 'serve_axon', block: best.number };
    const lastServed = num(field(current, 'block')) ?? 0;
    const rateLimit = num(await q.servingRateLimit(request.netuid)) ?? 0;
    if (lastServed > 0 && best.number + 1 - lastServed < rateLimit) {
      return {
        outcome: 'deferred',
        call: 'serve_axon',
        block: best.number,
        nextEligibleBlock: lastServed + rateLimit,
      };
    }
    const tx = api.tx.subtensorModule.serveAxon(
      request.netuid,
      request.version,
      ip,
      request.port,
      ipType,
      request.protocol,
      0,
      0,
    );
    return this.submit(api, 'serve_axon', tx, signer, request.waitFor ?? 'finalized');
  }

  private async weightsState(api: ApiPromise, netuid: number, hotkey: string): Promise<WeightsState> {
    const best = await this.bestBlock(api);
    const at = await api.at(best.hash);
    const q = at.query.subtensorModule;
    const [uidOption, rateLimit, versionKey, commitReveal, tempo, revealPeriod] = await Promise.all([
      q.uids(netuid, hotkey),
      q.weightsSetRateLimit(netuid),
      q.weightsVersionKey(netuid),
      q.commitRevealWeightsEnabled(netuid),
      q.tempo(netuid),
      q.revealPeriodEpochs ? q.revealPeriodEpochs(netuid) : Promise.resolve(undefined),
    ]);
    const uid = num(unwrap(uidOption));
    const lastUpdate = uid === undefined ? 0 : (num(list(await q.lastUpdate(netuid))[uid]) ?? 0);
    return {
      best,
      uid,
      lastUpdate,
      rateLimit: num(rateLimit) ?? 0,
      versionKey: num(versionKey) ?? 0,
      commitReveal: bool(commitReveal) ?? false,
      tempo: num(tempo) ?? 0,
      revealPeriod: num(revealPeriod) ?? 1,
    };
  }

  private async bestBlock(api: ApiPromise): Promise<BlockRef> {
    const header = await api.rpc.chain.getHeader();
    return { number: header.number.toNumber(), hash: header.hash.toHex() };
  }

  private submit(
    api: ApiPromise,
    call: string,
    tx: Parameters<ExtrinsicSubmitter['submit']>[2],
    signer: IKeyringPair,
    waitFor: WaitFor,
  ): Promise<ExtrinsicOutcome> {
    return this.submitter.submit(api, call, tx, signer, {
      waitFor,
      finalityTimeoutMs: this.config.finalityTimeoutMs,
      mortalPeriod: this.config.txMortalPeriod,
    });
  }
}
