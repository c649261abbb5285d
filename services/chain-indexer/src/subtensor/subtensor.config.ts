import { z } from 'zod';
import {
  ConfigError,
  baseEnvSchema,
  env,
  hotkeyEnvSchema,
  hotkeySourceOf,
  parseEnv,
  type HotkeySource,
} from '@chattensor/common';

/**
 * Variables of `CHAIN_MODE=subtensor`. Kept beside the feature so the
 * standalone mode never has to know them; the service's config merges them.
 */
export const subtensorEnvSchema = baseEnvSchema.extend(hotkeyEnvSchema.shape).extend({
  /** One endpoint or a comma list; the follower fails over in order. */
  SUBTENSOR_WS: env.urlList(['ws', 'wss']).optional(),
  /** Extra netuids to follow besides NETUID (comma list). */
  SUBTENSOR_NETUIDS: env.list().optional(),
  /** Hotkey whose delegation is published with the snapshot (usually the validator's); unset: none is. */
  SUBTENSOR_DELEGATE_HOTKEY: z.string().optional(),
  /** Readiness turns false when no finalized block was processed for this long. */
  SUBTENSOR_STALE_AFTER_MS: env.int(1000).default(60_000),
  /** Readiness also turns false when the view is this many finalized blocks behind. */
  SUBTENSOR_MAX_LAG_BLOCKS: env.int(0).default(12),
  /**
   * After a long outage, blocks older than this (relative to the finalized head)
   * are not replayed one by one: most nodes prune state after 256 blocks.
   */
  SUBTENSOR_CATCHUP_MAX_BLOCKS: env.int(1, 100_000).default(200),
  /** Reconnect backoff: first delay and cap. */
  SUBTENSOR_RECONNECT_MIN_MS: env.int(10).default(500),
  SUBTENSOR_RECONNECT_MAX_MS: env.int(10).default(30_000),
  /** `auto`: runtime APIs where the runtime has them, else storage; `storage`: storage items only. */
  SUBTENSOR_METAGRAPH_SOURCE: z.enum(['auto', 'storage'], { message: 'must be auto or storage' }).default('auto'),
  /** Per-request timeout of the JSON-RPC client. */
  SUBTENSOR_RPC_TIMEOUT_MS: env.int(1000).default(30_000),
  /** How long a submitted extrinsic may take to finalize before `in_block` is answered. */
  SUBTENSOR_FINALITY_TIMEOUT_MS: env.int(1000).default(120_000),
  /** Mortality of signed extrinsics in blocks; 0 signs immortal. */
  SUBTENSOR_TX_MORTAL_PERIOD: env.int(0, 65_536).default(64),
  /**
   * Weights on a commit-reveal subnet. `auto`: drand timelock when the runtime
   * has the call and its drand pallet is storing current pulses, else hash
   * commit + reveal; `timelock` / `hash`: only that path.
   */
  SUBTENSOR_COMMIT_REVEAL: z
    .enum(['auto', 'timelock', 'hash'], { message: 'must be auto, timelock or hash' })
    .default('auto'),
  /** Block time the drand reveal round is predicted with (the Python SDK's `block_time`). */
  SUBTENSOR_BLOCK_TIME_MS: env.int(100).default(12_000),
});

export interface SubtensorConfig {
  endpoints: string[];
  netuids: number[];
  /** Undefined: read-only indexer (extrinsic requests are answered `failed`). */
  hotkey?: HotkeySource;
  delegateHotkey?: string;
  staleAfterMs: number;
  maxLagBlocks: number;
  catchupMaxBlocks: number;
  reconnect: { minMs: number; maxMs: number };
  rpcTimeoutMs: number;
  finalityTimeoutMs: number;
  txMortalPeriod: number;
  metagraphSource: 'auto' | 'storage';
  /** Unset: `auto`. */
  commitReveal?: 'auto' | 'timelock' | 'hash';
  /** Unset: 12 s. */
  blockTimeMs?: number;
}

export function loadSubtensorConfig(source: NodeJS.ProcessEnv = process.env): SubtensorConfig {
  const e = parseEnv(subtensorEnvSchema, source);
  if (!e.SUBTENSOR_WS) {
    throw new ConfigError([
      {
        variable: 'SUBTENSOR_WS',
        problem: 'is required when CHAIN_MODE=subtensor (ws:// or wss:// URL, or a comma list)',
      },
    ]);
  }
  const extra = (e.SUBTENSOR_NETUIDS ?? []).map((value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      throw new ConfigError([
        { variable: 'SUBTENSOR_NETUIDS', problem: `"${value}" is not a netuid (0..65535)` },
      ]);
    }
    return n;
  });
  const hasHotkey = Boolean(e.HOTKEY_URI || e.WALLET_PATH);
  if (e.SUBTENSOR_RECONNECT_MAX_MS < e.SUBTENSOR_RECONNECT_MIN_MS) {
    throw new ConfigError([
      { variable: 'SUBTENSOR_RECONNECT_MAX_MS', problem: 'must not be below SUBTENSOR_RECONNECT_MIN_MS' },
    ]);
  }
  return {
    endpoints: e.SUBTENSOR_WS,
    netuids: [...new Set([e.NETUID, ...extra])],
    hotkey: hasHotkey ? hotkeySourceOf(e) : undefined,
    delegateHotkey: e.SUBTENSOR_DELEGATE_HOTKEY,
    staleAfterMs: e.SUBTENSOR_STALE_AFTER_MS,
    maxLagBlocks: e.SUBTENSOR_MAX_LAG_BLOCKS,
    catchupMaxBlocks: e.SUBTENSOR_CATCHUP_MAX_BLOCKS,
    reconnect: { minMs: e.SUBTENSOR_RECONNECT_MIN_MS, maxMs: e.SUBTENSOR_RECONNECT_MAX_MS },
    rpcTimeoutMs: e.SUBTENSOR_RPC_TIMEOUT_MS,
    finalityTimeoutMs: e.SUBTENSOR_FINALITY_TIMEOUT_MS,
    txMortalPeriod: e.SUBTENSOR_TX_MORTAL_PERIOD,
    metagraphSource: e.SUBTENSOR_METAGRAPH_SOURCE,
    commitReveal: e.SUBTENSOR_COMMIT_REVEAL,
    blockTimeMs: e.SUBTENSOR_BLOCK_TIME_MS,
  };
}

export const SUBTENSOR_CONFIG = Symbol('SUBTENSOR_CONFIG');
