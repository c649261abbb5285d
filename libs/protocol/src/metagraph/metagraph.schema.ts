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

export const hyperparametersSchema = z.object({
  tempo: z.number().int().optional(),
  weightsRateLimit: z.number().int().optional(),
  minAllowedWeights: z.number().int().optional(),
  maxWeightLimit: z.number().optional(),
  weightsVersionKey: z.number().int().optional(),
  commitRevealEnabled: z.boolean().optional(),
  commitRevealPeriod: z.number().int().optional(),
  activityCutoff: z.number().int().optional(),
  servingRateLimit: z.number().int().optional(),
});
export type Hyperparameters = z.infer<typeof hyperparametersSchema>;

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
  /** Hotkey the axon belongs to; it must be the indexer's signing hotkey. */
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
