import { Inject, Injectable } from '@nestjs/common';
import { AppError, ErrorCode } from '@chattensor/common';
import {
  describeGone,
  isSubnetGone,
  type indexerV1,
  type MetagraphSnapshot,
  type Neuron,
  type Hyperparameters,
  type DelegateInfo,
  type SparseRow,
} from '@chattensor/protocol';
import { MetagraphPublisher } from '../metagraph/metagraph.publisher';
import { QUERY_CONFIG, type QueryConfig } from './query.config';

/**
 * Answers the query API from the publisher's latest snapshot (memory first,
 * then the KV bucket and the Redis copy, so a restarted indexer answers at
 * once). Domain errors only; the gRPC server maps them: a netuid not
 * followed, or whose subnet is gone, is NOT_FOUND; a followed one without a
 * snapshot yet is UNAVAILABLE.
 */
@Injectable()
export class MetagraphQueryService {
  constructor(
    private readonly publisher: MetagraphPublisher,
    @Inject(QUERY_CONFIG) private readonly config: QueryConfig,
  ) {}

  async metagraph(request: indexerV1.GetMetagraphRequest): Promise<indexerV1.GetMetagraphResponse> {
    const snapshot = await this.snapshot(request.netuid);
    return {
      snapshot: snapshotInfo(snapshot),
      neurons: snapshot.neurons.map(toNeuron),
      hyperparameters: toHyperparameters(snapshot.hyperparameters),
      delegate: snapshot.delegate ? toDelegate(snapshot.delegate) : undefined,
      alphaPrice: snapshot.alphaPrice,
      weights: toRows(snapshot.weights),
      bonds: toRows(snapshot.bonds),
    };
  }

  async neuron(request: indexerV1.GetNeuronRequest): Promise<indexerV1.GetNeuronResponse> {
    const snapshot = await this.snapshot(request.netuid);
    let neuron: Neuron | undefined;
    if (request.hotkey !== undefined) neuron = snapshot.neurons.find((n) => n.hotkey === request.hotkey);
    else if (request.uid !== undefined) neuron = snapshot.neurons.find((n) => n.uid === request.uid);
    else throw new AppError(ErrorCode.InvalidRequest, 'name the neuron by uid or hotkey', { param: 'key' });
    if (!neuron) {
      const key = request.hotkey !== undefined ? `hotkey ${request.hotkey}` : `uid ${request.uid}`;
      throw new AppError(
        ErrorCode.NotFound,
        `no neuron with ${key} on netuid ${snapshot.netuid} at block ${snapshot.block}`,
      );
    }
    return { snapshot: snapshotInfo(snapshot), neuron: toNeuron(neuron) };
  }

  async hyperparameters(
    request: indexerV1.GetHyperparametersRequest,
  ): Promise<indexerV1.GetHyperparametersResponse> {
    const snapshot = await this.snapshot(request.netuid);
    return { snapshot: snapshotInfo(snapshot), hyperparameters: toHyperparameters(snapshot.hyperparameters) };
  }

  async delegate(request: indexerV1.GetDelegateRequest): Promise<indexerV1.GetDelegateResponse> {
    const snapshot = await this.snapshot(request.netuid);
    if (!snapshot.delegate) {
      throw new AppError(
        ErrorCode.NotFound,
        `no delegation known on netuid ${snapshot.netuid}: the validator hotkey is not a delegate, or none is configured`,
      );
    }
    return { snapshot: snapshotInfo(snapshot), delegate: toDelegate(snapshot.delegate) };
  }

  private async snapshot(netuid: number | undefined): Promise<MetagraphSnapshot> {
    const wanted = netuid ?? this.config.defaultNetuid;
    const followed = this.config.followedNetuids ?? [this.config.defaultNetuid];
    if (!followed.includes(wanted)) {
      throw new AppError(
        ErrorCode.NotFound,
        `netuid ${wanted} is not followed by this indexer (it follows ${followed.join(', ')})`,
      );
    }
    const entry = await this.publisher.entry(wanted);
    if (entry && isSubnetGone(entry))
      throw new AppError(ErrorCode.NotFound, `${describeGone(entry)}: no metagraph to serve`);
    if (!entry)
      throw new AppError(ErrorCode.Unavailable, `no metagraph of netuid ${wanted} yet`, {
        retryAfterSeconds: 1,
      });
    return entry;
  }
}

function snapshotInfo(s: MetagraphSnapshot): indexerV1.SnapshotInfo {
  return {
    netuid: s.netuid,
    mode: s.mode,
    block: BigInt(s.block),
    blockHash: s.blockHash ?? '',
    updatedAtMs: BigInt(s.updatedAt),
    genesisHash: s.chain?.genesisHash ?? '',
    specName: s.chain?.specName ?? '',
    specVersion: s.chain?.specVersion ?? 0,
    subnetRegisteredAt: big(s.subnetRegisteredAt),
  };
}

function toRows(rows: SparseRow[] | undefined): indexerV1.SparseRow[] {
  return (rows ?? []).map((row) => ({
    uid: row.uid,
    targets: row.entries.map(([target]) => target),
    values: row.entries.map(([, value]) => value),
  }));
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * A chain integer as a proto uint64. u64 values above 2^53 reach here as the
 * nearest double, which for u64::MAX is 2^64: clamped to the u64 range.
 */
const big = (value: number | undefined) => {
  if (value === undefined) return undefined;
  const exact = BigInt(Math.round(value));
  return exact > U64_MAX ? U64_MAX : exact < 0n ? 0n : exact;
};

function toNeuron(n: Neuron): indexerV1.Neuron {
  return {
    uid: n.uid,
    hotkey: n.hotkey,
    coldkey: n.coldkey,
    stake: n.stake,
    alphaStake: n.alphaStake,
    taoStake: n.taoStake,
    validatorPermit: n.validatorPermit,
    active: n.active,
    axon: n.axon
      ? {
          ip: n.axon.ip,
          port: n.axon.port,
          ipType: n.axon.ipType ?? 0,
          protocol: n.axon.protocol,
          version: n.axon.version,
        }
      : undefined,
    incentive: n.incentive,
    dividends: n.dividends,
    emission: n.emission,
    consensus: n.consensus,
    trust: n.trust,
    validatorTrust: n.validatorTrust,
    rank: n.rank,
    lastUpdate: big(n.lastUpdate),
    registeredAt: big(n.registeredAt),
    model: n.model,
  };
}

function toHyperparameters(h: Hyperparameters): indexerV1.Hyperparameters {
  return {
    tempo: h.tempo,
    weightsRateLimit: big(h.weightsRateLimit),
    minAllowedWeights: h.minAllowedWeights,
    maxWeightLimit: h.maxWeightLimit,
    weightsVersionKey: big(h.weightsVersionKey),
    commitRevealEnabled: h.commitRevealEnabled,
    commitRevealPeriod: big(h.commitRevealPeriod),
    activityCutoff: h.activityCutoff,
    servingRateLimit: big(h.servingRateLimit),
    rho: h.rho,
    kappa: h.kappa,
    immunityPeriod: h.immunityPeriod,
    minDifficulty: big(h.minDifficulty),
    maxDifficulty: big(h.maxDifficulty),
    difficulty: big(h.difficulty),
    adjustmentInterval: h.adjustmentInterval,
    adjustmentAlpha: big(h.adjustmentAlpha),
    registrationAllowed: h.registrationAllowed,
    powRegistrationAllowed: h.powRegistrationAllowed,
    targetRegsPerInterval: h.targetRegsPerInterval,
    maxRegsPerBlock: h.maxRegsPerBlock,
    minBurn: h.minBurn,
    maxBurn: h.maxBurn,
    burn: h.burn,
    bondsMovingAvg: big(h.bondsMovingAvg),
    maxValidators: h.maxValidators,
    maxUids: h.maxUids,
    alphaHigh: h.alphaHigh,
    alphaLow: h.alphaLow,
    liquidAlphaEnabled: h.liquidAlphaEnabled,
    alphaSigmoidSteepness: h.alphaSigmoidSteepness,
    yumaVersion: h.yumaVersion,
    subnetIsActive: h.subnetIsActive,
    transfersEnabled: h.transfersEnabled,
    bondsResetEnabled: h.bondsResetEnabled,
    userLiquidityEnabled: h.userLiquidityEnabled,
  };
}

function toDelegate(d: DelegateInfo): indexerV1.DelegateInfo {
  return {
    hotkey: d.hotkey,
    take: d.take,
    totalStake: d.totalStake,
    nominators: d.nominators.map((n) => ({ coldkey: n.coldkey, stake: n.stake })),
    registrations: d.registrations,
    validatorPermits: d.validatorPermits,
  };
}
