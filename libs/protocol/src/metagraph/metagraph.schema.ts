import { z } from 'zod';

/**
 * How a neuron's axon is reached, from AxonInfo.protocol: ChatTensor miners
 * announced in standalone mode serve gRPC (0); an axon registered on chain by
 * the Bittensor SDK (its default protocol 4) speaks the SDK's HTTP protocol.
 */
export const AxonProtocol = { grpc: 0, bittensorHttp: 4 } as const;

export const axonInfoSchema = z.object({
  /** Dotted IPv4 or IPv6 text, or a host name in standalone mode. */
  ip: z.string(),
  port: z.number().int().min(0).max(65535),
  ipType: z.union([z.literal(4), z.literal(6)]).optional(),
  /** 0 = TCP (gRPC here), as in the chain's AxonInfo.protocol. */
  protocol: z.number().int().min(0).default(0),
  version: z.number().int().min(0).default(0),
});
export type AxonInfo = z.infer<typeof axonInfoSchema>;

/** One uid of a subnet. Chain-only fields are optional so both modes share the shape. */
export const neuronSchema = z.object({
  uid: z.number().int().min(0),
  hotkey: z.string(),
  coldkey: z.string().optional(),
  /** Stake backing the hotkey on this subnet, in TAO (or alpha converted). */
  stake: z.number().min(0),
  alphaStake: z.number().min(0).optional(),
  taoStake: z.number().min(0).optional(),
  validatorPermit: z.boolean(),
  active: z.boolean(),
  axon: axonInfoSchema.nullable(),
  incentive: z.number().optional(),
  dividends: z.number().optional(),
  emission: z.number().optional(),
  consensus: z.number().optional(),
  trust: z.number().optional(),
  validatorTrust: z.number().optional(),
  rank: z.number().optional(),
  lastUpdate: z.number().int().optional(),
  registeredAt: z.number().int().optional(),
  /** Standalone mode: the model the miner announced. */
  model: z.string().optional(),
  role: z.enum(['miner', 'validator']).optional(),
});
export type Neuron = z.infer<typeof neuronSchema>;

const int = () => z.number().int().optional();
/** A u64 that may exceed 2^53: carried as the nearest double, not checked as a safe integer. */
const u64 = () => z.number().min(0).optional();
const flag = () => z.boolean().optional();

/**
 * A subnet's hyperparameters, every one the runtime exposes
 * (`get_subnet_hyperparams_v2`, else `get_subnet_hyperparams`, else storage).
 * `maxWeightLimit` is a proportion 0..1; burns are in TAO; the other
 * integers are the chain's own values (rho, kappa, alpha high/low as u16,
 * adjustment alpha as u64). A runtime that lacks one leaves it out.
 */
export const hyperparametersSchema = z.object({
  tempo: int(),
  weightsRateLimit: int(),
  minAllowedWeights: int(),
  /** MaxWeightsLimit as 0..1 (u16 / 65535). */
  maxWeightLimit: z.number().optional(),
  weightsVersionKey: u64(),
  commitRevealEnabled: flag(),
  commitRevealPeriod: int(),
  activityCutoff: int(),
  servingRateLimit: int(),
  /** Yuma's rho, the chain's u16. */
  rho: int(),
  /** Yuma's kappa (consensus majority), the chain's u16 (32767 = 0.5). */
  kappa: int(),
  immunityPeriod: int(),
  minDifficulty: u64(),
  maxDifficulty: u64(),
  difficulty: u64(),
  adjustmentInterval: int(),
  /** u64 as the chain stores it (the SDK divides by u64::MAX). */
  adjustmentAlpha: u64(),
  registrationAllowed: flag(),
  powRegistrationAllowed: flag(),
  targetRegsPerInterval: int(),
  maxRegsPerBlock: int(),
  /** In TAO. */
  minBurn: z.number().optional(),
  /** In TAO. */
  maxBurn: z.number().optional(),
  /** Current burn registration cost, in TAO. */
  burn: z.number().optional(),
  bondsMovingAvg: u64(),
  maxValidators: int(),
  maxUids: int(),
  alphaHigh: int(),
  alphaLow: int(),
  liquidAlphaEnabled: flag(),
  /** Fixed-point I32F32 as a float. */
  alphaSigmoidSteepness: z.number().optional(),
  yumaVersion: int(),
  subnetIsActive: flag(),
  transfersEnabled: flag(),
  bondsResetEnabled: flag(),
  userLiquidityEnabled: flag(),
});
export type Hyperparameters = z.infer<typeof hyperparametersSchema>;

/**
 * Which chain a snapshot or event comes from: its genesis hash (a reset dev
 * chain may keep it, so the block hash is checked too) and the runtime that
 * produced it.
 */
export const chainIdentitySchema = z.object({
  genesisHash: z.string().regex(/^0x[0-9a-f]{64}$/),
  specName: z.string(),
  specVersion: z.number().int().min(0),
});
export type ChainIdentity = z.infer<typeof chainIdentitySchema>;

/**
 * A sparse matrix as the chain stores it (`Weights` / `Bonds`): one row per
 * uid that has entries, each a list of `[target uid, u16 value]`.
 */
export const sparseRowSchema = z.object({
  uid: z.number().int().min(0),
  entries: z.array(z.tuple([z.number().int().min(0), z.number().int().min(0).max(65535)])),
});
export type SparseRow = z.infer<typeof sparseRowSchema>;

export const delegateInfoSchema = z.object({
  hotkey: z.string(),
  take: z.number().min(0).max(1),
  totalStake: z.number().min(0),
  nominators: z.array(z.object({ coldkey: z.string(), stake: z.number().min(0) })),
  registrations: z.array(z.number().int()),
  validatorPermits: z.array(z.number().int()),
});
export type DelegateInfo = z.infer<typeof delegateInfoSchema>;

/** The cluster's view of one subnet at one block (or one local revision). */
export const metagraphSnapshotSchema = z.object({
  v: z.literal(1),
  netuid: z.number().int().min(0),
  mode: z.enum(['local', 'subtensor']),
  /** Chain block number; in standalone mode a revision counter. */
  block: z.number().int().min(0),
  blockHash: z.string().optional(),
  updatedAt: z.number().int(),
  neurons: z.array(neuronSchema),
  hyperparameters: hyperparametersSchema.default({}),
  delegate: delegateInfoSchema.optional(),
  /** Subtensor mode: TAO per alpha of this subnet at `block` (its pool price), where the runtime offers it. */
  alphaPrice: z.number().min(0).optional(),
  /** Subtensor mode: the chain the snapshot was read from. */
  chain: chainIdentitySchema.optional(),
  /**
   * Subtensor mode: block at which this netuid's current registration was
   * made (`NetworkRegisteredAt`). A different value means another subnet
   * under the same netuid: a new lineage, never mixed with the old one.
   */
  subnetRegisteredAt: z.number().int().min(0).optional(),
  /** Subtensor mode: the weights matrix, rows by setting uid. */
  weights: z.array(sparseRowSchema).optional(),
  /** Subtensor mode: the bonds matrix, rows by validator uid. */
  bonds: z.array(sparseRowSchema).optional(),
  /** The last weights set on this subnet by the cluster's validator. */
  lastWeights: z
    .object({
      block: z.number().int(),
      at: z.number().int(),
      uids: z.array(z.number().int()),
      weights: z.array(z.number()),
    })
    .optional(),
});
export type MetagraphSnapshot = z.infer<typeof metagraphSnapshotSchema>;

/**
 * Why a followed netuid has no snapshot to serve: `dissolved` (the subnet is
 * gone), `reregistered` (another subnet took the netuid: its snapshots start
 * a new lineage), `not_registered` (the netuid has no subnet on this chain).
 */
export const subnetGoneReasonSchema = z.enum(['dissolved', 'reregistered', 'not_registered']);
export type SubnetGoneReason = z.infer<typeof subnetGoneReasonSchema>;

/**
 * The tombstone the chain-indexer puts in the `metagraph` KV entry of a
 * netuid whose subnet is gone, at the block it saw that happen. Consumers
 * drop the snapshot they hold and stop using the subnet.
 */
export const subnetGoneSchema = z.object({
  v: z.literal(1),
  netuid: z.number().int().min(0),
  mode: z.literal('subtensor'),
  gone: subnetGoneReasonSchema,
  /** Block (and hash) at which the indexer found the subnet gone. */
  block: z.number().int().min(0),
  blockHash: z.string(),
  chain: chainIdentitySchema.optional(),
  /** The lineage that ended: `subnetRegisteredAt` of the last snapshot, where known. */
  previousRegisteredAt: z.number().int().min(0).optional(),
  /** Block of the last snapshot of the lineage that ended, where there was one. */
  lastSnapshotBlock: z.number().int().min(0).optional(),
  updatedAt: z.number().int(),
});
export type SubnetGone = z.infer<typeof subnetGoneSchema>;

/** What the `metagraph` KV entry of a netuid holds: a snapshot or a tombstone. */
export const metagraphEntrySchema = z.union([subnetGoneSchema, metagraphSnapshotSchema]);
export type MetagraphEntry = z.infer<typeof metagraphEntrySchema>;

export function isSubnetGone(entry: MetagraphEntry): entry is SubnetGone {
  return 'gone' in entry;
}

/** A sentence for logs, readiness and errors. */
export function describeGone(g: SubnetGone): string {
  const what =
    g.gone === 'dissolved'
      ? 'was dissolved'
      : g.gone === 'reregistered'
        ? 'was registered again by another subnet owner'
        : 'has no subnet';
  return `netuid ${g.netuid} ${what} at block ${g.block}`;
}

/**
 * `chain.subnet.<netuid>`: lifecycle events of a followed subnet.
 * `gone` carries the tombstone; `registered` starts a new lineage (its
 * first snapshot follows on `chain.metagraph.<netuid>`); `chain_reset` says
 * the indexer found the chain it served replaced (another genesis, or the
 * served block no longer on the chain) and dropped what it served.
 */
export const subnetEventSchema = z.object({
  v: z.literal(1),
  netuid: z.number().int().min(0),
  event: z.enum(['gone', 'registered', 'chain_reset']),
  block: z.number().int().min(0).optional(),
  blockHash: z.string().optional(),
  chain: chainIdentitySchema.optional(),
  gone: subnetGoneSchema.optional(),
  subnetRegisteredAt: z.number().int().min(0).optional(),
  /** `chain_reset`: what was served before, and why it was dropped. */
  previous: z
    .object({ block: z.number().int(), blockHash: z.string().optional(), genesisHash: z.string().optional() })
    .optional(),
  reason: z.string().optional(),
  at: z.number().int(),
});
export type SubnetEvent = z.infer<typeof subnetEventSchema>;

/**
 * `registry.announce` in standalone mode: a miner (or validator) says where
 * it listens, signed by its hotkey over `announceMessage(...)`.
 */
export const announcementSchema = z.object({
  v: z.literal(1),
  netuid: z.number().int().min(0),
  role: z.enum(['miner', 'validator']),
  hotkey: z.string(),
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  model: z.string().optional(),
  /** Milliseconds since the epoch; stale announcements are rejected. */
  timestamp: z.number().int(),
  signature: z.string().regex(/^0x[0-9a-f]+$/i),
  /** The hotkey's scheme when it is not sr25519; the signature verifies under this scheme only. */
  crypto: z.literal('ed25519').optional(),
});
export type Announcement = z.infer<typeof announcementSchema>;

export function announceMessage(a: Omit<Announcement, 'signature' | 'v' | 'crypto'>): string {
  return `chattensor.announce.v1.${a.netuid}.${a.role}.${a.hotkey}.${a.host}:${a.port}.${a.model ?? ''}.${a.timestamp}`;
}

/** Requests on `chain.extrinsics.set_weights`. */
export const setWeightsRequestSchema = z.object({
  v: z.literal(1),
  netuid: z.number().int().min(0),
  /** Hotkey of the validator on whose behalf weights are set. */
  hotkey: z.string(),
  uids: z.array(z.number().int().min(0)),
  weights: z.array(z.number().min(0)),
  /** Subtensor mode: answer once the extrinsic is in a block, or (default) once it is finalized. */
  waitFor: z.enum(['in_block', 'finalized']).optional(),
});
export type SetWeightsRequest = z.infer<typeof setWeightsRequestSchema>;

/** Requests on `chain.extrinsics.serve_axon`: publish where a miner's axon listens. */
export const serveAxonRequestSchema = z.object({
  v: z.literal(1),
  netuid: z.number().int().min(0),
  /**
   * Hotkey the axon belongs to: the indexer's own, or one whose owner answers
   * signing requests on `chain.sign.<hotkey>` (a miner).
   */
  hotkey: z.string(),
  /** Numeric IPv4 or IPv6 address (the chain stores no host names). */
  ip: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  /** AxonInfo.protocol; the Python SDK sends 4. */
  protocol: z.number().int().min(0).max(255).default(4),
  version: z.number().int().min(0).default(0),
  waitFor: z.enum(['in_block', 'finalized']).optional(),
});
export type ServeAxonRequest = z.infer<typeof serveAxonRequestSchema>;

/**
 * `chain.sign.<hotkey>`: the chain-indexer asks the owner of a hotkey it does
 * not hold to sign an extrinsic it built (nonce, era, runtime and genesis
 * chosen by the indexer). The owner checks that `method` is the call it asked
 * for and that `signingPayload` starts with it, then signs `signingPayload`
 * (the SCALE extrinsic payload, or its blake2-256 when longer than 256 bytes,
 * as Substrate signs) and answers with `signingResponseSchema`.
 */
export const signingRequestSchema = z.object({
  v: z.literal(1),
  /** The call, as named in `chain.extrinsics.*`. */
  call: z.literal('serve_axon'),
  /** SS58 address that must sign. */
  hotkey: z.string(),
  /** SCALE-encoded call: pallet and call index, then the arguments. */
  method: z.string().regex(/^0x[0-9a-f]*$/),
  /** The bytes to sign, 0x-hex. */
  signingPayload: z.string().regex(/^0x[0-9a-f]*$/),
  /** Whether `signingPayload` is already the blake2-256 of a payload longer than 256 bytes. */
  hashed: z.boolean(),
  nonce: z.number().int().min(0),
  /** 0 for immortal. */
  mortalPeriod: z.number().int().min(0),
  tip: z.string(),
  genesisHash: z.string(),
  blockHash: z.string(),
  specVersion: z.number().int().min(0),
});
export type SigningRequest = z.infer<typeof signingRequestSchema>;

export const signingResponseSchema = z.union([
  /** sr25519 signature over `signingPayload`, 64 bytes 0x-hex. */
  z.object({ signature: z.string().regex(/^0x[0-9a-f]{128}$/) }),
  z.object({ error: z.string() }),
]);
export type SigningResponse = z.infer<typeof signingResponseSchema>;

export const extrinsicOutcomeSchema = z.object({
  outcome: z.enum(['finalized', 'in_block', 'recorded', 'deferred', 'skipped', 'failed']),
  block: z.number().int().optional(),
  nextEligibleBlock: z.number().int().optional(),
  error: z.string().optional(),
  /** Subtensor mode: which call was sent (`set_weights`, `commit_weights`, `reveal_weights`, `serve_axon`). */
  call: z.string().optional(),
  txHash: z.string().optional(),
  blockHash: z.string().optional(),
  /** A dispatch error decoded by the node's metadata, e.g. `SubtensorModule.SettingWeightsTooFast`. */
  moduleError: z.string().optional(),
  /** Commit-reveal: the window in which the indexer will reveal the committed weights. */
  reveal: z.object({ firstBlock: z.number().int(), lastBlock: z.number().int() }).optional(),
});
export type ExtrinsicOutcome = z.infer<typeof extrinsicOutcomeSchema>;

/** `validator.scores.<netuid>`: a validator's current view of the miners, for the status page. */
export const validatorScoresSchema = z.object({
  v: z.literal(1),
  netuid: z.number().int().min(0),
  validator: z.string(),
  at: z.number().int(),
  miners: z.array(
    z.object({
      uid: z.number().int().min(0),
      hotkey: z.string(),
      score: z.number(),
      /** False while the validator's calls to the miner fail (it keeps it out of selection). */
      reachable: z.boolean().optional(),
      /** Answers checked against the reference model: verified ones, and failed ones by reason. */
      verification: z
        .object({
          verified: z.number().int().min(0),
          failed: z.record(z.string(), z.number().int().min(0)),
          /** The same counts for synthetic answers alone (reported apart from organic ones). */
          syntheticVerified: z.number().int().min(0),
          syntheticFailed: z.number().int().min(0),
        })
        .optional(),
      /** Kept away from user traffic until then (ms since the epoch) after a failed verification. */
      excludedUntil: z.number().int().optional(),
      /** Recent scores, oldest first, one sample per `historyIntervalMs`. */
      history: z.array(z.number()).optional(),
    }),
  ),
  historyIntervalMs: z.number().int().positive().optional(),
});
export type ValidatorScores = z.infer<typeof validatorScoresSchema>;
