/** Every NATS subject, queue group, bucket and header the services use. */
export const Subjects = {
  /** Chat jobs from gateways to validators (queue group `validators`). */
  chatCompletions: 'chat.completions',
  /** Cancels a running job: `chat.cancel.<jobId>`. */
  chatCancel: (jobId: string) => `chat.cancel.${jobId}`,
  chatCancelAll: 'chat.cancel.*',
  /** Metagraph snapshot updated: `chain.metagraph.<netuid>`. */
  metagraph: (netuid: number) => `chain.metagraph.${netuid}`,
  /** Lifecycle of a followed subnet (gone, registered again, chain reset): `chain.subnet.<netuid>`. */
  subnet: (netuid: number) => `chain.subnet.${netuid}`,
  /**
   * Signing requests to the owner of a hotkey the chain-indexer does not
   * hold (a miner's serve_axon): `chain.sign.<ss58 hotkey>`.
   */
  signer: (hotkey: string) => `chain.sign.${hotkey}`,
  /** Requests to the chain-indexer, the only extrinsic writer. */
  extrinsics: (call: 'set_weights' | 'serve_axon') => `chain.extrinsics.${call}`,
  extrinsicsAll: 'chain.extrinsics.*',
  /** Standalone mode: miners and validators announce themselves here. */
  registryAnnounce: 'registry.announce',
  /** Validators publish their latest view of miner scores here (status page). */
  validatorScores: (netuid: number) => `validator.scores.${netuid}`,
} as const;

export const QueueGroups = {
  validators: 'validators',
  chainIndexer: 'chain-indexer',
} as const;

export const Buckets = {
  /** JetStream KV: one key per netuid (`netuid-<n>`), the latest snapshot. */
  metagraph: 'metagraph',
} as const;

export const metagraphKey = (netuid: number) => `netuid-${netuid}`;

export const Headers = {
  correlationId: 'x-correlation-id',
  schemaVersion: 'ct-schema',
} as const;
