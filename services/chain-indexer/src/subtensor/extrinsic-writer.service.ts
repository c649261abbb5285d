import { randomInt } from 'node:crypto';
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { ApiPromise } from '@polkadot/api';
import type { IKeyringPair } from '@polkadot/types/types';
import {
  convertWeightsAndUidsForEmit,
  generateWeightHash,
  ipToInt,
  quicknetRoundAt,
  timelockWeightsCommit,
  type RevealSchedule,
  type WeightsPayloadFormat,
} from '@chattensor/bittensor';
import { NatsService, rootLogger } from '@chattensor/common';
import type { ExtrinsicOutcome, ServeAxonRequest, SetWeightsRequest } from '@chattensor/protocol';
import { unservableReason } from './axon.util';
import { SubtensorConnection, type ChainSession } from './chain-connection';
import { big, bool, field, list, num, unwrap } from './chain-values.util';
import { ChainFollower } from './chain-follower.service';
import { ExtrinsicSubmitter, type SigningAccount, type WaitFor } from './extrinsic-submitter';
import { loadSigningPair } from './hotkey.signer';
import { isSs58, OwnerSigner } from './owner-signer';
import type { BlockRef } from './metagraph.reader';
import { PendingRevealStore, type PendingReveal } from './pending-reveals.store';
import { SUBTENSOR_CONFIG, type SubtensorConfig } from './subtensor.config';
import { SubtensorMetrics } from './subtensor.metrics';
import { nextEligibleBlock, revealWindow } from './weights-window.util';

/** Salt length the Python SDK uses for hash commits. */
const SALT_LENGTH = 8;

/** `MAX_CRV3_COMMIT_SIZE_BYTES`: the runtime's bound on a timelocked commit. */
const MAX_TIMELOCK_COMMIT_BYTES = 5000;

/**
 * A drand pallet whose last stored round is further behind quicknet than this
 * (100 rounds, 5 minutes) is not ingesting pulses (a local dev chain, a drand
 * outage): a commit locked to a future round would never be revealed there.
 */
const DRAND_STALE_ROUNDS = 100;

/** How long the owner of a hotkey has to answer a signing request. */
const OWNER_SIGNING_TIMEOUT_MS = 15_000;

/** Pool rejections worth signing again with a fresh nonce (another submission took the nonce first). */
const RESIGN_ON = /stale|outdated|future|priority is too low|usurped|dropped|1010|1014/i;
const RESIGN_ATTEMPTS = 2;

/** `CommitRevealWeightsVersion` where the runtime has no such item (the SDK's default). */
const DEFAULT_COMMIT_REVEAL_VERSION = 4;

export type TimelockCall = 'commit_timelocked_weights' | 'commit_crv3_weights';

/** How this runtime takes timelocked weights: the call, its payload format and how its reveal epoch is predicted. */
export interface TimelockPlan {
  call: TimelockCall;
  format: WeightsPayloadFormat;
  model: RevealSchedule['model'];
}

type PalletView = Record<string, Record<string, unknown> | undefined>;

/**
 * The timelocked commit the runtime offers, read from its metadata (decorated
 * `tx` and `query`); undefined when it has none. `commit_timelocked_weights`
 * runtimes decode the payload with the hotkey; those that also keep the
 * stateful epoch counters reveal by them.
 */
export function timelockPlan(metadata: { tx: PalletView; query: PalletView }): TimelockPlan | undefined {
  const tx = metadata.tx.subtensorModule ?? {};
  const query = metadata.query.subtensorModule ?? {};
  if (!metadata.query.drand?.pulses) return undefined;
  if (tx.commitTimelockedWeights) {
    const stateful = Boolean(
      query.subnetEpochIndex && query.lastEpochBlock && query.pendingEpochAt && query.blocksSinceLastStep,
    );
    return {
      call: 'commit_timelocked_weights',
      format: 'with-hotkey',
      model: stateful ? 'epoch-state' : 'tempo',
    };
  }
  if (tx.commitCrv3Weights) return { call: 'commit_crv3_weights', format: 'legacy', model: 'crv3' };
  return undefined;
}

export interface TimelockCommitInput {
  plan: TimelockPlan;
  netuid: number;
  /** SS58 address of the signing hotkey. */
  hotkey: string;
  /** Already converted for emit (u16). */
  uids: number[];
  weights: number[];
  versionKey: number;
  /** Chain state at the head the commit is computed from. */
  currentBlock: number;
  tempo: number;
  revealPeriodEpochs: number;
  epochState?: {
    lastEpochBlock: number;
    pendingEpochAt: number;
    subnetEpochIndex: number;
    blocksSinceLastStep: number;
  };
  commitRevealVersion: number;
  blockTimeMs: number;
  nowSeconds?: number;
}

export interface TimelockCommitCall {
  /** The decorated method name under `tx.subtensorModule`. */
  method: 'commitTimelockedWeights' | 'commitCrv3Weights';
  /** The commit goes as hex: @polkadot/types reads a Uint8Array given for `Bytes` as already length-prefixed. */
  args: [netuid: number, commit: string, revealRound: number, ...version: number[]];
  round: number;
  revealBlock: number;
}

/** Payload, round and ciphertext for a timelocked commit, as the call's arguments. */
export function timelockCommitCall(input: TimelockCommitInput): TimelockCommitCall {
  const { plan } = input;
  const base = {
    netuid: input.netuid,
    tempo: input.tempo,
    currentBlock: input.currentBlock,
    revealPeriodEpochs: input.revealPeriodEpochs,
  };
  let schedule: RevealSchedule;
  if (plan.model === 'epoch-state') {
    if (!input.epochState) throw new Error('the runtime keeps epoch state but none was read');
    schedule = {
      model: 'epoch-state',
      state: { ...input.epochState, tempo: input.tempo, currentBlock: input.currentBlock },
      revealPeriodEpochs: input.revealPeriodEpochs,
    };
  } else {
    schedule = { model: plan.model, ...base };
  }
  const made = timelockWeightsCommit({
    weights: { hotkey: input.hotkey, uids: input.uids, values: input.weights, versionKey: input.versionKey },
    format: plan.format,
    schedule,
    blockTimeSeconds: input.blockTimeMs / 1000,
    nowSeconds: input.nowSeconds,
  });
  if (made.commit.length > MAX_TIMELOCK_COMMIT_BYTES) {
    throw new Error(
      `the timelocked commit is ${made.commit.length} bytes, above the runtime's ${MAX_TIMELOCK_COMMIT_BYTES}: too many uids with non-zero weight`,
    );
  }
  const common = { round: made.round, revealBlock: made.revealBlock };
  const commit = `0x${made.commit.toString('hex')}`;
  return plan.call === 'commit_timelocked_weights'
    ? {
        method: 'commitTimelockedWeights',
        args: [input.netuid, commit, made.round, input.commitRevealVersion],
        ...common,
      }
    : { method: 'commitCrv3Weights', args: [input.netuid, commit, made.round], ...common };
}

type WeightsPath =
  | { kind: 'set' }
  | { kind: 'hash' }
  | { kind: 'timelock'; plan: TimelockPlan }
  | { kind: 'none'; error: string };

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
 * or, for a miner's serve_axon, has the miner sign the payload it built
 * (`OwnerSigner` over `chain.sign.<hotkey>`); it checks what the chain would
 * refuse before sending (rate limits, identical axon records), keeps the
 * nonces, signs again when the pool rejects a stale nonce, and answers every
 * request with what happened on chain.
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
    private readonly nats: NatsService,
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
    const outcome = await this.guard<IKeyringPair>('set_weights', request.hotkey, (session, signer) =>
      this.doSetWeights(session, signer, request),
    );
    this.metrics.extrinsics.inc({ call: 'set_weights', outcome: outcome.outcome });
    return outcome;
  }

  async serveAxon(request: ServeAxonRequest): Promise<ExtrinsicOutcome> {
    // A miner's axon must be served by the miner's own hotkey: its owner signs what the indexer builds.
    const outcome = await this.guard(
      'serve_axon',
      request.hotkey,
      (session, signer) => this.doServeAxon(session, signer, request),
      { ownerSigns: true },
    );
    this.metrics.extrinsics.inc({ call: 'serve_axon', outcome: outcome.outcome });
    return outcome;
  }

  private async guard<A extends SigningAccount>(
    call: string,
    hotkey: string,
    run: (session: ChainSession, signer: A) => Promise<ExtrinsicOutcome>,
    options: { ownerSigns?: boolean } = {},
  ): Promise<ExtrinsicOutcome> {
    const session = this.connection.current;
    const own = this.signer && hotkey === this.signer.address;
    if (!own && !options.ownerSigns) {
      if (!this.signer) return { outcome: 'failed', call, error: 'this indexer has no hotkey to sign with' };
      return {
        outcome: 'failed',
        call,
        error: `this indexer signs as ${this.signer.address}, not as ${hotkey}`,
      };
    }
    if (!own && !isSs58(hotkey)) return { outcome: 'failed', call, error: `not an SS58 hotkey: ${hotkey}` };
    if (!session) return { outcome: 'failed', call, error: 'not connected to a Subtensor node' };
    const account: SigningAccount = own
      ? this.signer!
      : {
          address: hotkey,
          signer: new OwnerSigner(session.api, this.nats.nc, 'serve_axon', hotkey, OWNER_SIGNING_TIMEOUT_MS),
        };
    try {
      return await run(session, account as A);
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
    const path = await this.weightsPath(api, state);
    const callName =
      path.kind === 'set' ? 'set_weights' : path.kind === 'timelock' ? path.plan.call : 'commit_weights';
    if (path.kind === 'none') return { outcome: 'failed', call: callName, error: path.error };
    const eligible = nextEligibleBlock(state.lastUpdate, state.rateLimit, state.best.number + 1);
    if (eligible !== undefined) {
      this.log.info(
        { netuid: request.netuid, lastUpdate: state.lastUpdate, eligible },
        'weights deferred by WeightsSetRateLimit',
      );
      return { outcome: 'deferred', call: callName, block: state.best.number, nextEligibleBlock: eligible };
    }
    const waitFor = request.waitFor ?? 'finalized';
    const tx = api.tx.subtensorModule;
    if (path.kind === 'set') {
      return this.submit(
        api,
        'set_weights',
        tx.setWeights(request.netuid, uids, weights, state.versionKey),
        signer,
        waitFor,
      );
    }
    if (path.kind === 'timelock') {
      const commit = timelockCommitCall({
        plan: path.plan,
        netuid: request.netuid,
        hotkey: signer.address,
        uids,
        weights,
        versionKey: state.versionKey,
        currentBlock: state.best.number,
        tempo: state.tempo,
        revealPeriodEpochs: state.revealPeriod,
        epochState:
          path.plan.model === 'epoch-state'
            ? await this.epochState(api, state.best, request.netuid)
            : undefined,
        commitRevealVersion: await this.commitRevealVersion(api, state.best),
        blockTimeMs: this.config.blockTimeMs ?? 12_000,
      });
      this.log.info(
        {
          netuid: request.netuid,
          call: path.plan.call,
          round: commit.round,
          revealBlock: commit.revealBlock,
        },
        'committing timelocked weights; the chain reveals them',
      );
      return this.submit(api, path.plan.call, tx[commit.method](...commit.args), signer, waitFor);
    }
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
    signer: SigningAccount,
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

  /**
   * set_weights without commit-reveal; with it, the drand timelock commit when
   * the runtime has one and its drand pallet is current (or when configured
   * so), else hash commit + reveal.
   */
  private async weightsPath(api: ApiPromise, state: WeightsState): Promise<WeightsPath> {
    if (!state.commitReveal) return { kind: 'set' };
    const mode = this.config.commitReveal ?? 'auto';
    const plan = timelockPlan(api);
    const tx = api.tx.subtensorModule;
    const hash = Boolean(tx.commitWeights && tx.revealWeights);
    if (mode === 'hash') {
      return hash
        ? { kind: 'hash' }
        : {
            kind: 'none',
            error: 'SUBTENSOR_COMMIT_REVEAL=hash, but this runtime has no commit_weights / reveal_weights',
          };
    }
    if (!plan) {
      if (mode === 'auto' && hash) return { kind: 'hash' };
      return {
        kind: 'none',
        error:
          'this runtime offers no drand timelock commit (commit_timelocked_weights / commit_crv3_weights) with a Drand pallet',
      };
    }
    if (mode === 'timelock') return { kind: 'timelock', plan };
    const at = await api.at(state.best.hash);
    const stored = at.query.drand.lastStoredRound ? (num(await at.query.drand.lastStoredRound()) ?? 0) : 0;
    const current = quicknetRoundAt(Date.now() / 1000);
    if (stored + DRAND_STALE_ROUNDS >= current) return { kind: 'timelock', plan };
    this.log.warn(
      { lastStoredRound: stored, quicknetRound: current },
      hash
        ? "the chain's drand pallet is not storing current pulses: hash commit-reveal instead of a timelock commit it could not reveal"
        : "the chain's drand pallet is not storing current pulses: a timelock commit would not be revealed",
    );
    return hash
      ? { kind: 'hash' }
      : {
          kind: 'none',
          error: `the chain's drand pallet is at round ${stored}, quicknet at ${current}: a timelocked commit would not be revealed`,
        };
  }

  private async epochState(
    api: ApiPromise,
    best: BlockRef,
    netuid: number,
  ): Promise<TimelockCommitInput['epochState']> {
    const q = (await api.at(best.hash)).query.subtensorModule;
    const [lastEpochBlock, pendingEpochAt, subnetEpochIndex, blocksSinceLastStep] = await Promise.all([
      q.lastEpochBlock(netuid),
      q.pendingEpochAt(netuid),
      q.subnetEpochIndex(netuid),
      q.blocksSinceLastStep(netuid),
    ]);
    return {
      lastEpochBlock: num(lastEpochBlock) ?? 0,
      pendingEpochAt: num(pendingEpochAt) ?? 0,
      subnetEpochIndex: num(subnetEpochIndex) ?? 0,
      blocksSinceLastStep: num(blocksSinceLastStep) ?? 0,
    };
  }

  private async commitRevealVersion(api: ApiPromise, best: BlockRef): Promise<number> {
    const q = (await api.at(best.hash)).query.subtensorModule;
    if (!q.commitRevealWeightsVersion) return DEFAULT_COMMIT_REVEAL_VERSION;
    return num(await q.commitRevealWeightsVersion()) ?? DEFAULT_COMMIT_REVEAL_VERSION;
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

  /**
   * Submits with the submitter's nonce handling; a pool rejection of a stale
   * or taken nonce is signed again with a fresh one (the transaction is
   * rebuilt from the same call), at most RESIGN_ATTEMPTS times.
   */
  private async submit(
    api: ApiPromise,
    call: string,
    tx: Parameters<ExtrinsicSubmitter['submit']>[2],
    signer: SigningAccount,
    waitFor: WaitFor,
  ): Promise<ExtrinsicOutcome> {
    const options = {
      waitFor,
      finalityTimeoutMs: this.config.finalityTimeoutMs,
      mortalPeriod: this.config.txMortalPeriod,
    };
    let outcome = await this.submitter.submit(api, call, tx, signer, options);
    for (let attempt = 0; attempt < RESIGN_ATTEMPTS; attempt++) {
      if (outcome.outcome !== 'failed' || outcome.moduleError || !RESIGN_ON.test(outcome.error ?? '')) break;
      this.log.warn(
        { call, hotkey: signer.address, error: outcome.error },
        'the pool refused the nonce: signing again',
      );
      outcome = await this.submitter.submit(api, call, api.tx(tx.method.toHex()), signer, options);
    }
    return outcome;
  }
}
