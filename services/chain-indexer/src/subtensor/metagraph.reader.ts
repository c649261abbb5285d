import type { ApiPromise } from '@polkadot/api';
import type { ApiDecoration } from '@polkadot/api/types';
import type { Codec } from '@polkadot/types/types';
import type {
  AxonInfo,
  DelegateInfo,
  Hyperparameters,
  MetagraphSnapshot,
  Neuron,
  SparseRow,
} from '@chattensor/protocol';
import { compactFromU8a } from '@polkadot/util';
import { intToIp } from '@chattensor/bittensor';
import { BlockCalls } from './block-calls';
import { account, big, bool, field, list, num, raoToTao, u16Fraction, unwrap } from './chain-values.util';

type At = ApiDecoration<'promise'>;

export interface BlockRef {
  number: number;
  hash: string;
}

/** Which source answered: runtime APIs are preferred, storage is the fallback. */
export type MetagraphSource = 'runtime:get_metagraph' | 'runtime:get_neurons_lite' | 'storage';

export interface ReadResult {
  snapshot: MetagraphSnapshot;
  source: MetagraphSource;
  /** Where the time went: waiting for the node, and turning its answers into the snapshot. */
  timings: { chainMs: number; decodeMs: number };
  /** The runtime the block was read with. */
  runtime: { specName: string; specVersion: number };
}

/**
 * Builds a `MetagraphSnapshot` of one subnet at one block from whatever the
 * node's runtime offers, decoding only by the metadata it serves. Fields a
 * runtime lacks are left out of the snapshot, never guessed.
 */
export class MetagraphReader {
  /**
   * `auto` prefers the runtime APIs; `storage` reads storage items only
   * (for nodes whose runtime calls are slow, e.g. a runtime under an
   * emulator, or runtimes whose APIs changed shape).
   */
  constructor(private readonly preference: 'auto' | 'storage' = 'auto') {}

  /** Uids per netuid at the last read: the weights and bonds rows are requested with the metagraph. */
  private readonly uidCounts = new Map<number, number>();

  /** Forgets what was learnt from earlier blocks (another chain follows). */
  reset(): void {
    this.uidCounts.clear();
  }

  /** Undefined when the subnet does not exist at that block. */
  async read(
    api: ApiPromise,
    block: BlockRef,
    netuid: number,
    delegateHotkey?: string,
  ): Promise<ReadResult | undefined> {
    if (this.preference === 'auto') {
      const fast = await this.readViaMetagraphApi(api, block, netuid, delegateHotkey);
      if (fast !== FALL_BACK) return fast;
    }
    const started = performance.now();
    const at = await api.at(block.hash);
    // Independent reads in flight together: the node answers them in parallel.
    const [read, delegate, alphaPrice, registeredAt] = await Promise.all([
      this.readSubnet(at, netuid),
      delegateHotkey ? this.readDelegate(at, delegateHotkey, netuid) : Promise.resolve(undefined),
      this.readAlphaPrice(at, netuid),
      at.query.subtensorModule?.networkRegisteredAt
        ? at.query.subtensorModule.networkRegisteredAt(netuid).then((v) => num(v))
        : Promise.resolve(undefined),
    ]);
    if (!read) return undefined;
    const n = read.neurons.length;
    const uids = Array.from({ length: n }, (_, uid) => [netuid, uid]);
    const q = at.query.subtensorModule;
    // Decoded from SCALE with the connection's registry when the block runs its runtime (see matrixReader).
    const calls = new BlockCalls(api, block.hash);
    const sameRuntime = n > 0 && (await calls.sameRuntime());
    const [weights, bonds] = await Promise.all(
      (['weights', 'bonds'] as const).map(async (item) => {
        if (!q?.[item] || n === 0) return undefined;
        if (sameRuntime) return toSparse((await matrixReader(calls, item, uids))());
        return sparseRows(await at.queryMulti(uids.map((args) => [q[item], args])));
      }),
    );
    const snapshot = buildSnapshot(block, netuid, read.neurons, read.hyperparameters, delegate, alphaPrice, {
      registeredAt,
      weights,
      bonds,
    });
    // Decoding is interleaved with the reads on these paths: all of it counts as chain time.
    return {
      snapshot,
      source: read.source,
      timings: { chainMs: performance.now() - started, decodeMs: 0 },
      runtime: {
        specName: at.runtimeVersion.specName.toString(),
        specVersion: at.runtimeVersion.specVersion.toNumber(),
      },
    };
  }

  /**
   * `get_metagraph` and everything that rides along with it, all requested at
   * once at the block's hash with the connection's registry (see
   * `BlockCalls`). Falls back to the `api.at` path when the runtime lacks
   * `get_metagraph` or the block runs another runtime than the registry's.
   */
  private async readViaMetagraphApi(
    api: ApiPromise,
    block: BlockRef,
    netuid: number,
    delegateHotkey?: string,
  ): Promise<ReadResult | undefined | typeof FALL_BACK> {
    const started = performance.now();
    const calls = new BlockCalls(api, block.hash);
    if (!calls.has('subnetInfoRuntimeApi', 'getMetagraph')) return FALL_BACK;
    // Weights and bonds rows by uid, requested with the metagraph for as many uids as last time.
    const guessed = this.uidCounts.get(netuid) ?? 0;
    const rows = (from: number, to: number) =>
      Array.from({ length: Math.max(0, to - from) }, (_, i) => [netuid, from + i]);
    const matrix = (item: string, from: number, to: number) =>
      calls.hasStorage('subtensorModule', item) ? matrixReader(calls, item, rows(from, to)) : undefined;
    const hyperMethod = ['getSubnetHyperparamsV2', 'getSubnetHyperparams'].find((m) =>
      calls.has('subnetInfoRuntimeApi', m),
    );
    const [
      sameRuntime,
      metagraphAnswer,
      trustAnswer,
      delegateAnswer,
      priceAnswer,
      hyperAnswer,
      weightsAnswer,
      bondsAnswer,
    ] = await Promise.all([
      calls.sameRuntime(),
      calls.call('subnetInfoRuntimeApi', 'getMetagraph', netuid),
      // Spec 293's metagraph lacks validator trust; read alongside, used only when it is missing.
      calls.hasStorage('subtensorModule', 'validatorTrust')
        ? calls.query('subtensorModule', 'validatorTrust', netuid)
        : undefined,
      delegateHotkey && calls.has('delegateInfoRuntimeApi', 'getDelegate')
        ? calls.call('delegateInfoRuntimeApi', 'getDelegate', delegateHotkey)
        : undefined,
      calls.has('swapRuntimeApi', 'currentAlphaPrice')
        ? calls.call('swapRuntimeApi', 'currentAlphaPrice', netuid)
        : undefined,
      hyperMethod ? calls.call('subnetInfoRuntimeApi', hyperMethod, netuid) : undefined,
      matrix('weights', 0, guessed),
      matrix('bonds', 0, guessed),
    ]);
    if (!sameRuntime) return FALL_BACK;
    // A runtime with get_delegate but the hotkey's delegation read by storage would be new: use the slow path then.
    if (delegateHotkey && !delegateAnswer) return FALL_BACK;
    const decodeStarted = performance.now();
    const metagraph = unwrap(metagraphAnswer());
    if (!metagraph) return undefined;
    const n = list(field(metagraph, 'hotkeys')).length;
    let waitedMs = decodeStarted - started;
    let weightsValues = weightsAnswer?.() ?? [];
    let bondsValues = bondsAnswer?.() ?? [];
    if (n > guessed) {
      // More uids than last time: their rows in one more round.
      const extraStarted = performance.now();
      const [moreWeights, moreBonds] = await Promise.all([
        matrix('weights', guessed, n),
        matrix('bonds', guessed, n),
      ]);
      waitedMs += performance.now() - extraStarted;
      weightsValues = [...weightsValues, ...(moreWeights?.() ?? [])];
      bondsValues = [...bondsValues, ...(moreBonds?.() ?? [])];
    }
    this.uidCounts.set(netuid, n);
    const validatorTrust = field(metagraph, 'validatorTrust') ? undefined : list(trustAnswer?.());
    const delegateInfo = delegateAnswer ? unwrap(delegateAnswer()) : undefined;
    const priceRao = priceAnswer ? big(priceAnswer()) : undefined;
    const hyper = hyperAnswer ? unwrap(hyperAnswer()) : undefined;
    const snapshot = buildSnapshot(
      block,
      netuid,
      neuronsFromMetagraph(metagraph, validatorTrust),
      { ...hyperparametersFrom(metagraph), ...(hyper ? hyperparametersFrom(hyper) : {}) },
      delegateInfo ? delegateFrom(delegateInfo, netuid) : undefined,
      raoToTao(priceRao),
      {
        registeredAt: num(field(metagraph, 'networkRegisteredAt')),
        weights: calls.hasStorage('subtensorModule', 'weights')
          ? toSparse(weightsValues.slice(0, n))
          : undefined,
        bonds: calls.hasStorage('subtensorModule', 'bonds') ? toSparse(bondsValues.slice(0, n)) : undefined,
      },
    );
    const done = performance.now();
    return {
      snapshot,
      source: 'runtime:get_metagraph',
      timings: { chainMs: waitedMs, decodeMs: Math.max(0, done - started - waitedMs) },
      runtime: calls.runtime,
    };
  }

  private async readSubnet(
    at: At,
    netuid: number,
  ): Promise<{ neurons: Neuron[]; hyperparameters: Hyperparameters; source: MetagraphSource } | undefined> {
    const subnetApi = this.preference === 'auto' ? at.call.subnetInfoRuntimeApi : undefined;
    if (subnetApi?.getMetagraph) {
      const metagraph = unwrap(await subnetApi.getMetagraph(netuid));
      if (!metagraph) return undefined;
      // get_metagraph (spec 293) carries no validator trust: one storage read adds it.
      const validatorTrust = field(metagraph, 'validatorTrust')
        ? undefined
        : await this.storageVector(at, 'validatorTrust', netuid);
      return {
        neurons: neuronsFromMetagraph(metagraph, validatorTrust),
        hyperparameters: hyperparametersFrom(metagraph),
        source: 'runtime:get_metagraph',
      };
    }
    const neuronApi = this.preference === 'auto' ? at.call.neuronInfoRuntimeApi : undefined;
    if (neuronApi?.getNeuronsLite) {
      if (!(await this.subnetExists(at, netuid))) return undefined;
      const readLite = async () => {
        const lite = list(await neuronApi.getNeuronsLite(netuid));
        return { lite, registeredAt: await this.registrationBlocks(at, netuid, lite.length) };
      };
      const readHyper = async () =>
        (subnetApi?.getSubnetHyperparamsV2
          ? unwrap(await subnetApi.getSubnetHyperparamsV2(netuid))
          : undefined) ??
        (subnetApi?.getSubnetHyperparams ? unwrap(await subnetApi.getSubnetHyperparams(netuid)) : undefined);
      const [{ lite, registeredAt }, hyper] = await Promise.all([readLite(), readHyper()]);
      return {
        neurons: lite.map((n) => neuronFromLite(n, registeredAt)),
        hyperparameters: hyper
          ? hyperparametersFrom(hyper)
          : await this.hyperparametersFromStorage(at, netuid),
        source: 'runtime:get_neurons_lite',
      };
    }
    if (!(await this.subnetExists(at, netuid))) return undefined;
    const [neurons, hyperparameters] = await Promise.all([
      this.neuronsFromStorage(at, netuid),
      this.hyperparametersFromStorage(at, netuid),
    ]);
    return { neurons, hyperparameters, source: 'storage' };
  }

  private async subnetExists(at: At, netuid: number): Promise<boolean> {
    const networksAdded = at.query.subtensorModule?.networksAdded;
    return networksAdded ? Boolean(bool(await networksAdded(netuid))) : true;
  }

  private async storageVector(at: At, item: string, netuid: number): Promise<Codec[] | undefined> {
    const query = at.query.subtensorModule?.[item];
    return query ? list(await query(netuid)) : undefined;
  }

  private async registrationBlocks(at: At, netuid: number, count: number): Promise<(number | undefined)[]> {
    const query = at.query.subtensorModule?.blockAtRegistration;
    if (!query || count === 0) return [];
    const values = await at.queryMulti(Array.from({ length: count }, (_, uid) => [query, [netuid, uid]]));
    return values.map((v) => num(v));
  }

  /**
   * Hotkey per uid. With `SubnetworkN` the uids 0..n-1 are read by key (one
   * batch); a prefix scan of `Keys` is much slower on some nodes (an
   * emulator walks every key of the map) and is only the fallback.
   */
  private async hotkeysFromStorage(at: At, netuid: number): Promise<Map<number, string>> {
    const q = at.query.subtensorModule;
    const hotkeys = new Map<number, string>();
    if (!q.keys) return hotkeys;
    if (q.subnetworkN) {
      const n = num(await q.subnetworkN(netuid)) ?? 0;
      if (n === 0) return hotkeys;
      const values = await at.queryMulti(Array.from({ length: n }, (_, uid) => [q.keys, [netuid, uid]]));
      values.forEach((value, uid) => {
        const hotkey = account(value);
        if (hotkey) hotkeys.set(uid, hotkey);
      });
      return hotkeys;
    }
    for (const [key, value] of await q.keys.entries(netuid)) {
      const uid = num(key.args[1]);
      const hotkey = account(value);
      if (uid !== undefined && hotkey) hotkeys.set(uid, hotkey);
    }
    return hotkeys;
  }

  private async neuronsFromStorage(at: At, netuid: number): Promise<Neuron[]> {
    const q = at.query.subtensorModule;
    const vectorItems = [
      'active',
      'incentive',
      'dividends',
      'emission',
      'consensus',
      'trust',
      'rank',
      'validatorTrust',
      'validatorPermit',
      'lastUpdate',
    ];
    const [hotkeys, vectorValues] = await Promise.all([
      this.hotkeysFromStorage(at, netuid),
      Promise.all(vectorItems.map((item) => this.storageVector(at, item, netuid))),
    ]);
    const n = hotkeys.size === 0 ? 0 : Math.max(...hotkeys.keys()) + 1;
    const vectors: Record<string, Codec[] | undefined> = Object.fromEntries(
      vectorItems.map((item, i) => [item, vectorValues[i]]),
    );
    const hotkeyList = Array.from({ length: n }, (_, uid) => hotkeys.get(uid) ?? '');
    const [registeredAt, coldkeys, axons, alpha] = await Promise.all([
      this.registrationBlocks(at, netuid, n),
      q.owner ? at.queryMulti(hotkeyList.map((h) => [q.owner, h])) : Promise.resolve([]),
      q.axons ? at.queryMulti(hotkeyList.map((h) => [q.axons, [netuid, h]])) : Promise.resolve([]),
      q.totalHotkeyAlpha
        ? at.queryMulti(hotkeyList.map((h) => [q.totalHotkeyAlpha, [h, netuid]]))
        : Promise.resolve([]),
    ]);
    const at16 = (item: string, uid: number) => num(vectors[item]?.[uid]);
    return hotkeyList.map((hotkey, uid) => {
      const alphaStake = raoToTao(big(alpha[uid]));
      return compact<Neuron>({
        uid,
        hotkey,
        coldkey: account(coldkeys[uid]),
        stake: alphaStake ?? 0,
        alphaStake,
        validatorPermit: bool(vectors.validatorPermit?.[uid]) ?? false,
        active: bool(vectors.active?.[uid]) ?? false,
        axon: axonFrom(unwrap(axons[uid])),
        incentive: u16Fraction(at16('incentive', uid)),
        dividends: u16Fraction(at16('dividends', uid)),
        emission: raoToTao(big(vectors.emission?.[uid])),
        consensus: u16Fraction(at16('consensus', uid)),
        trust: u16Fraction(at16('trust', uid)),
        rank: u16Fraction(at16('rank', uid)),
        validatorTrust: u16Fraction(at16('validatorTrust', uid)),
        lastUpdate: at16('lastUpdate', uid),
        registeredAt: registeredAt[uid],
      });
    });
  }

  private async hyperparametersFromStorage(at: At, netuid: number): Promise<Hyperparameters> {
    const q = at.query.subtensorModule ?? {};
    const read = async (item: string) => (q[item] ? await q[item](netuid) : undefined);
    const [tempo, rateLimit, minWeights, maxWeights, versionKey, crEnabled, crPeriod, cutoff, serving] =
      await Promise.all(
        [
          'tempo',
          'weightsSetRateLimit',
          'minAllowedWeights',
          'maxWeightsLimit',
          'weightsVersionKey',
          'commitRevealWeightsEnabled',
          'revealPeriodEpochs',
          'activityCutoff',
          'servingRateLimit',
        ].map(read),
      );
    return compact<Hyperparameters>({
      tempo: num(tempo),
      weightsRateLimit: num(rateLimit),
      minAllowedWeights: num(minWeights),
      maxWeightLimit: u16Fraction(num(maxWeights)),
      weightsVersionKey: num(versionKey),
      commitRevealEnabled: bool(crEnabled),
      commitRevealPeriod: num(crPeriod),
      activityCutoff: num(cutoff),
      servingRateLimit: num(serving),
    });
  }

  private async readDelegate(at: At, hotkey: string, netuid: number): Promise<DelegateInfo | undefined> {
    const delegateApi = this.preference === 'auto' ? at.call.delegateInfoRuntimeApi : undefined;
    if (delegateApi?.getDelegate) {
      const info = unwrap(await delegateApi.getDelegate(hotkey));
      return info ? delegateFrom(info, netuid) : undefined;
    }
    // Without the runtime API only the take is in storage under the hotkey.
    const take = at.query.subtensorModule?.delegates
      ? num(await at.query.subtensorModule.delegates(hotkey))
      : undefined;
    return take === undefined
      ? undefined
      : {
          hotkey,
          take: take / 65_535,
          totalStake: 0,
          nominators: [],
          registrations: [],
          validatorPermits: [],
        };
  }

  private async readAlphaPrice(at: At, netuid: number): Promise<number | undefined> {
    const swap = this.preference === 'auto' ? at.call.swapRuntimeApi : undefined;
    if (!swap?.currentAlphaPrice) return undefined;
    // TAO (in rao) per one alpha (10^9 rao of alpha).
    return raoToTao(big(await swap.currentAlphaPrice(netuid)));
  }
}

const FALL_BACK = Symbol('fall back to api.at');

function buildSnapshot(
  block: BlockRef,
  netuid: number,
  neurons: Neuron[],
  hyperparameters: Hyperparameters,
  delegate: DelegateInfo | undefined,
  alphaPrice: number | undefined,
  extra: { registeredAt?: number; weights?: SparseRow[]; bonds?: SparseRow[] } = {},
): MetagraphSnapshot {
  return {
    v: 1,
    netuid,
    mode: 'subtensor',
    block: block.number,
    blockHash: block.hash,
    updatedAt: Date.now(),
    neurons,
    hyperparameters,
    ...(delegate ? { delegate } : {}),
    ...(alphaPrice !== undefined ? { alphaPrice } : {}),
    ...(extra.registeredAt !== undefined ? { subnetRegisteredAt: extra.registeredAt } : {}),
    ...(extra.weights ? { weights: extra.weights } : {}),
    ...(extra.bonds ? { bonds: extra.bonds } : {}),
  };
}

/** One matrix row's entries, `[target uid, value]`. */
type RowEntries = [number, number][];

/** Rows (in uid order) as sparse rows; uids without entries are left out. */
function toSparse(rows: RowEntries[]): SparseRow[] {
  const out: SparseRow[] = [];
  rows.forEach((entries, uid) => {
    if (entries.length > 0) out.push({ uid, entries });
  });
  return out;
}

/**
 * Reads `Weights` / `Bonds` rows at the block. When the metadata says the
 * values are `Vec<(u16,u16)>` (every runtime so far) they are decoded
 * straight from the SCALE bytes (a compact length, then little-endian u16
 * pairs): 64 rows of 256 entries through generic codecs cost hundreds of
 * milliseconds per block. Any other type goes through the registry's codecs.
 */
async function matrixReader(calls: BlockCalls, item: string, keys: unknown[][]): Promise<() => RowEntries[]> {
  const type = calls.storageValueType('subtensorModule', item)?.replace(/\s/g, '');
  if (type === 'Vec<(u16,u16)>') {
    const bytes = await calls.queryManyBytes('subtensorModule', item, keys);
    return () => bytes().map((value) => (value ? u16PairsFromScale(value) : []));
  }
  const codecs = await calls.queryMany('subtensorModule', item, keys);
  return () => codecs().map((value) => rowEntries(value));
}

/** SCALE `Vec<(u16, u16)>`. */
export function u16PairsFromScale(bytes: Uint8Array): RowEntries {
  const [offset, length] = compactFromU8a(bytes);
  const count = length.toNumber();
  if (bytes.length !== offset + count * 4) {
    throw new Error(`a Vec<(u16,u16)> of ${count} takes ${offset + count * 4} bytes, not ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: RowEntries = new Array<[number, number]>(count);
  for (let i = 0; i < count; i++) {
    const at = offset + i * 4;
    entries[i] = [view.getUint16(at, true), view.getUint16(at + 2, true)];
  }
  return entries;
}

function rowEntries(value: Codec | undefined): RowEntries {
  return list(value).map((pair) => {
    const [target, weight] = pair as unknown as [Codec, Codec];
    return [num(target) ?? 0, num(weight) ?? 0];
  });
}

/**
 * `Weights` / `Bonds` rows (`Vec<(u16, u16)>` per uid, in uid order) as
 * sparse rows; uids without entries are left out.
 */
export function sparseRows(values: (Codec | undefined)[]): SparseRow[] {
  return toSparse(values.map(rowEntries));
}

/** Drops undefined properties so optional fields are absent, not `undefined`. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function axonFrom(axon: Codec | undefined): AxonInfo | null {
  if (!axon) return null;
  const ip = big(field(axon, 'ip'));
  const ipType = num(field(axon, 'ipType'));
  const port = num(field(axon, 'port'));
  if (ip === undefined || ip === 0n || ipType === undefined || !port) return null;
  if (ipType !== 4 && ipType !== 6) return null;
  return {
    ip: intToIp(ip),
    port,
    ipType,
    protocol: num(field(axon, 'protocol')) ?? 0,
    version: num(field(axon, 'version')) ?? 0,
  };
}

export function neuronsFromMetagraph(metagraph: Codec, validatorTrust?: Codec[]): Neuron[] {
  const column = (name: string) => list(field(metagraph, name));
  const hotkeys = column('hotkeys');
  const [
    coldkeys,
    active,
    permits,
    lastUpdate,
    emission,
    dividends,
    incentives,
    consensus,
    trust,
    rank,
    registeredAt,
  ] = [
    'coldkeys',
    'active',
    'validatorPermit',
    'lastUpdate',
    'emission',
    'dividends',
    'incentives',
    'consensus',
    'trust',
    'rank',
    'blockAtRegistration',
  ].map(column);
  const [axons, alphaStake, taoStake, totalStake] = ['axons', 'alphaStake', 'taoStake', 'totalStake'].map(
    column,
  );
  const vtrust = field(metagraph, 'validatorTrust') ? column('validatorTrust') : validatorTrust;
  return hotkeys.map((hotkey, uid) => {
    const alpha = raoToTao(big(alphaStake?.[uid]));
    const total = raoToTao(big(totalStake?.[uid]));
    return compact<Neuron>({
      uid,
      hotkey: account(hotkey)!,
      coldkey: account(coldkeys?.[uid]),
      stake: total ?? alpha ?? 0,
      alphaStake: alpha,
      taoStake: raoToTao(big(taoStake?.[uid])),
      validatorPermit: bool(permits?.[uid]) ?? false,
      active: bool(active?.[uid]) ?? false,
      axon: axonFrom(axons?.[uid]),
      incentive: u16Fraction(num(incentives?.[uid])),
      dividends: u16Fraction(num(dividends?.[uid])),
      emission: raoToTao(big(emission?.[uid])),
      consensus: u16Fraction(num(consensus?.[uid])),
      trust: u16Fraction(num(trust?.[uid])),
      rank: u16Fraction(num(rank?.[uid])),
      validatorTrust: u16Fraction(num(vtrust?.[uid])),
      lastUpdate: num(lastUpdate?.[uid]),
      registeredAt: num(registeredAt?.[uid]),
    });
  });
}

export function neuronFromLite(lite: Codec, registeredAt: (number | undefined)[]): Neuron {
  const uid = num(field(lite, 'uid')) ?? 0;
  // NeuronInfoLite.stake lists (coldkey, stake) pairs; their sum is the hotkey's stake here.
  const stakeRao = list(field(lite, 'stake')).reduce(
    (sum, pair) => sum + (big((pair as unknown as Codec[])[1]) ?? 0n),
    0n,
  );
  const stake = raoToTao(stakeRao) ?? 0;
  return compact<Neuron>({
    uid,
    hotkey: account(field(lite, 'hotkey'))!,
    coldkey: account(field(lite, 'coldkey')),
    stake,
    alphaStake: stake,
    validatorPermit: bool(field(lite, 'validatorPermit')) ?? false,
    active: bool(field(lite, 'active')) ?? false,
    axon: axonFrom(field(lite, 'axonInfo')),
    incentive: u16Fraction(num(field(lite, 'incentive'))),
    dividends: u16Fraction(num(field(lite, 'dividends'))),
    emission: raoToTao(big(field(lite, 'emission'))),
    consensus: u16Fraction(num(field(lite, 'consensus'))),
    trust: u16Fraction(num(field(lite, 'trust'))),
    rank: u16Fraction(num(field(lite, 'rank'))),
    validatorTrust: u16Fraction(num(field(lite, 'validatorTrust'))),
    lastUpdate: num(field(lite, 'lastUpdate')),
    registeredAt: registeredAt[uid],
  });
}

/**
 * Works on `Metagraph`, `SubnetHyperparams` and `SubnetHyperparamsV2` alike
 * (same field names); a field the struct lacks is left out.
 */
export function hyperparametersFrom(source: Codec): Hyperparameters {
  const n = (name: string) => num(field(source, name));
  const b = (name: string) => bool(field(source, name));
  const tao = (name: string) => raoToTao(big(field(source, name)));
  const steepness = big(field(source, 'alphaSigmoidSteepness'));
  return compact<Hyperparameters>({
    tempo: n('tempo'),
    weightsRateLimit: n('weightsRateLimit'),
    minAllowedWeights: n('minAllowedWeights'),
    maxWeightLimit: u16Fraction(n('maxWeightsLimit')),
    weightsVersionKey: n('weightsVersion'),
    commitRevealEnabled: b('commitRevealWeightsEnabled'),
    commitRevealPeriod: n('commitRevealPeriod'),
    activityCutoff: n('activityCutoff'),
    servingRateLimit: n('servingRateLimit'),
    rho: n('rho'),
    kappa: n('kappa'),
    immunityPeriod: n('immunityPeriod'),
    minDifficulty: n('minDifficulty'),
    maxDifficulty: n('maxDifficulty'),
    difficulty: n('difficulty'),
    adjustmentInterval: n('adjustmentInterval'),
    adjustmentAlpha: n('adjustmentAlpha'),
    registrationAllowed: b('registrationAllowed'),
    powRegistrationAllowed: b('powRegistrationAllowed'),
    targetRegsPerInterval: n('targetRegsPerInterval'),
    maxRegsPerBlock: n('maxRegsPerBlock'),
    minBurn: tao('minBurn'),
    maxBurn: tao('maxBurn'),
    burn: tao('burn'),
    bondsMovingAvg: n('bondsMovingAvg'),
    maxValidators: n('maxValidators'),
    maxUids: n('maxUids'),
    alphaHigh: n('alphaHigh'),
    alphaLow: n('alphaLow'),
    liquidAlphaEnabled: b('liquidAlphaEnabled'),
    // I32F32: 32 fractional bits.
    alphaSigmoidSteepness: steepness === undefined ? undefined : Number(steepness) / 2 ** 32,
    yumaVersion: n('yumaVersion'),
    subnetIsActive: b('subnetIsActive'),
    transfersEnabled: b('transfersEnabled'),
    bondsResetEnabled: b('bondsResetEnabled'),
    userLiquidityEnabled: b('userLiquidityEnabled'),
  });
}

export function delegateFrom(info: Codec, netuid: number): DelegateInfo {
  const nominators = list(field(info, 'nominators')).map((entry) => {
    const [coldkey, stakes] = entry as unknown as [Codec, Codec];
    // Stake per subnet, in that subnet's alpha: the snapshot's subnet is what this cluster earns on.
    const onSubnet = list(stakes).find((pair) => num((pair as unknown as Codec[])[0]) === netuid);
    return {
      coldkey: account(coldkey)!,
      stake: raoToTao(big(onSubnet ? (onSubnet as unknown as Codec[])[1] : undefined)) ?? 0,
    };
  });
  return {
    hotkey: account(field(info, 'delegateSs58'))!,
    take: u16Fraction(num(field(info, 'take'))) ?? 0,
    totalStake: nominators.reduce((sum, n) => sum + n.stake, 0),
    nominators,
    registrations: list(field(info, 'registrations')).map((r) => num(r)!),
    validatorPermits: list(field(info, 'validatorPermits')).map((r) => num(r)!),
  };
}
