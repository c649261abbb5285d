import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { axonEnvSchema, loadAxonConfig, type AxonConfig } from '../axon/axon.config';
import {
  ConfigError,
  baseEnvSchema,
  env,
  hotkeyEnvSchema,
  hotkeySourceOf,
  parseEnv,
  type HotkeySource,
} from '@chattensor/common';

/** Every variable the miner reads; see the table in services/miner/README.md. */
export const minerEnvSchema = baseEnvSchema
  .extend(hotkeyEnvSchema.shape)
  .extend({
    HTTP_HOST: z.string().default('0.0.0.0'),
    /** Ops port: /healthz, /readyz, /metrics. */
    HTTP_PORT: env.port().default(9200),
    GRPC_HOST: z.string().default('0.0.0.0'),
    GRPC_PORT: env.port().default(50051),
    /** Host validators should dial, announced in standalone mode. */
    ANNOUNCE_HOST: z.string().default('127.0.0.1'),
    ANNOUNCE_INTERVAL_MS: env.int(100, 3_600_000).default(5000),
    MODEL_DIR: z.string().optional(),
    /** A llama GGUF file, imported at start (once per file content) into MODEL_CACHE_DIR; instead of MODEL_DIR. */
    MODEL_GGUF: z.string().optional(),
    MODEL_CACHE_DIR: z.string().default('.cache/gguf'),
    MINER_DEVICE: z.enum(['cpu', 'cuda'], { message: 'must be cpu or cuda' }).default('cpu'),
    /** int8 / int4: quantize the model's MatMul weights to 8 or 4 bits at load (float32 models). */
    MINER_QUANTIZE: z
      .enum(['none', 'int8', 'int4'], { message: 'must be none, int8 or int4' })
      .default('none'),
    MAX_BATCH_SIZE: env.int(1, 256).default(8),
    MAX_QUEUE: env.int(1, 10_000).default(64),
    INTRA_OP_THREADS: env.int(0, 256).default(0),
    /** Standalone mode: validator hotkeys allowed to call (comma-separated SS58). */
    MINER_ALLOWED_HOTKEYS: env.list().default([]),
    /** Chain mode: minimum stake (TAO) a caller with a validator permit must hold. */
    MIN_VALIDATOR_STAKE: env.number(0, Number.MAX_SAFE_INTEGER).default(0),
    /** Longest a single generation may run; also the nonce window's timeout part. */
    REQUEST_TIMEOUT_MS: env.int(1000, 3_600_000).default(120_000),
    /** Chain mode: the public address of this miner's axon (its load balancer), registered with serve_axon. */
    AXON_EXTERNAL_IP: z
      .union([z.ipv4(), z.ipv6()], { message: 'must be a public IPv4 or IPv6 address' })
      .optional(),
    /** Chain mode: the public port of the axon; defaults to AXON_PORT. */
    AXON_EXTERNAL_PORT: env.port().optional(),
    /**
     * Chain mode, in Kubernetes, instead of AXON_EXTERNAL_IP: the LoadBalancer
     * Service (`namespace/name` or `name`) whose address and `axon` port are registered.
     */
    AXON_EXTERNAL_SERVICE: z
      .string()
      .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, {
        message: 'must name a Kubernetes Service: namespace/name or name',
      })
      .optional(),
  })
  .extend(axonEnvSchema.shape);

export interface MinerConfig {
  netuid: number;
  chainMode: 'local' | 'subtensor';
  natsServers: string[];
  hotkey: HotkeySource;
  http: { host: string; port: number };
  grpc: { host: string; port: number };
  announce: { host: string; intervalMs: number };
  model: {
    /** The model folder; for a GGUF, where its import goes (see gguf). */
    dir: string;
    /** MODEL_GGUF: imported into `dir`'s parent cache at start. */
    gguf?: { path: string; cacheDir: string };
    device: 'cpu' | 'cuda';
    quantize: 'none' | 'int8' | 'int4';
    maxBatchSize: number;
    maxQueue: number;
    intraOpThreads: number;
  };
  auth: { allowedHotkeys: string[]; minValidatorStake: number };
  requestTimeoutMs: number;
  /** The Bittensor HTTP axon (for Python validators). */
  axon: AxonConfig;
  /** Chain mode: where the axon is registered on chain, when the miner should ask for it. */
  serveAxon?: { ip: string; port: number };
  /** Chain mode: the LoadBalancer Service whose address is registered (when AXON_EXTERNAL_IP is not set). */
  serveAxonService?: string;
}

export const MINER_CONFIG = Symbol('MINER_CONFIG');

export function loadMinerConfig(source: NodeJS.ProcessEnv = process.env): MinerConfig {
  const e = parseEnv(minerEnvSchema, source);
  // Checked here, before any connection is made, so a wrong path fails at once.
  if (e.MODEL_DIR && e.MODEL_GGUF) {
    throw new ConfigError([{ variable: 'MODEL_GGUF', problem: 'set either MODEL_DIR (a model folder) or MODEL_GGUF (a GGUF file), not both' }]);
  }
  if (e.MODEL_GGUF !== undefined) {
    if (!existsSync(e.MODEL_GGUF) || !statSync(e.MODEL_GGUF).isFile())
      throw new ConfigError([{ variable: 'MODEL_GGUF', problem: `${e.MODEL_GGUF} is not a file` }]);
  } else if (e.MODEL_DIR === undefined) {
    throw new ConfigError([{ variable: 'MODEL_DIR', problem: 'is required: a model folder in the Hugging Face / Optimum ONNX layout (or set MODEL_GGUF to a GGUF file)' }]);
  } else if (!existsSync(join(e.MODEL_DIR, 'config.json'))) {
    throw new ConfigError([
      { variable: 'MODEL_DIR', problem: `${e.MODEL_DIR} is not a model folder (no config.json in it)` },
    ]);
  }
  return {
    netuid: e.NETUID,
    chainMode: e.CHAIN_MODE,
    natsServers: e.NATS_URL,
    hotkey: hotkeySourceOf(e),
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    grpc: { host: e.GRPC_HOST, port: e.GRPC_PORT },
    announce: { host: e.ANNOUNCE_HOST, intervalMs: e.ANNOUNCE_INTERVAL_MS },
    model: {
      dir: e.MODEL_DIR ?? e.MODEL_CACHE_DIR,
      gguf: e.MODEL_GGUF !== undefined ? { path: e.MODEL_GGUF, cacheDir: e.MODEL_CACHE_DIR } : undefined,
      device: e.MINER_DEVICE,
      quantize: e.MINER_QUANTIZE,
      maxBatchSize: e.MAX_BATCH_SIZE,
      maxQueue: e.MAX_QUEUE,
      intraOpThreads: e.INTRA_OP_THREADS,
    },
    auth: { allowedHotkeys: e.MINER_ALLOWED_HOTKEYS, minValidatorStake: e.MIN_VALIDATOR_STAKE },
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    axon: loadAxonConfig(source),
    serveAxon: e.AXON_EXTERNAL_IP
      ? { ip: e.AXON_EXTERNAL_IP, port: e.AXON_EXTERNAL_PORT ?? e.AXON_PORT }
      : undefined,
    serveAxonService: e.AXON_EXTERNAL_IP ? undefined : e.AXON_EXTERNAL_SERVICE,
  };
}
