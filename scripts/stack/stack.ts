import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Keypair, initCrypto } from '@chattensor/bittensor';
import { generateModel } from '@chattensor/inference';
import type { CheatKind } from '../cheating-miner/cheating-miner';
import { freePort, installed, listening } from './ports';

export { freePort };

/** Repository root, from dist/scripts/stack or scripts/stack. */
export const REPO_ROOT = resolve(
  __dirname,
  existsSync(join(__dirname, '..', '..', 'package.json')) ? '../..' : '../../..',
);
const DIST = join(REPO_ROOT, 'dist');

export interface StackOptions {
  /** Where runtime state (NATS/Redis data, logs) goes. */
  stateDir: string;
  modelDir: string;
  /** Model preset generated when modelDir is empty. */
  modelPreset?: 'tiny' | '100m' | '400m';
  gatewayPort: number;
  miners: number;
  natsUrl?: string;
  redisUrl?: string;
  /** Extra environment for every service. */
  env?: Record<string, string>;
  /** Receives every output line of every process, prefixed with its name. */
  onLine?: (name: string, line: string) => void;
  netuid?: number;
  /** Validator replicas (default 1); they share the queue group, one of them sets weights. */
  validators?: number;
  /** Extra environment for the miners only. */
  minerEnv?: Record<string, string>;
  /** Extra environment for the validators only. */
  validatorEnv?: Record<string, string>;
  /**
   * Start NATS and Redis of the stack's own on free ports (state in stateDir) even when
   * something listens on the default ports, e.g. for tests that restart them.
   */
  ownInfra?: boolean;
  /**
   * Cheating miners started beside the honest ones, one per kind (scripts/cheating-miner):
   * a demonstration that the validator catches them and gives them no weight.
   */
  cheaters?: CheatKind[];
}

export interface RunningService {
  name: string;
  process: ChildProcess;
  /** Ops port (/readyz, /metrics); for NATS and Redis, the port they serve. */
  httpPort: number;
  env: Record<string, string>;
  /** NATS and Redis when the stack started them, else a ChatTensor service. */
  kind: 'service' | 'infra';
  /** Starts the process again with the same arguments and ports; resolves once it is ready. */
  relaunch(): Promise<void>;
}

export interface Stack {
  gatewayUrl: string;
  natsUrl: string;
  redisUrl: string;
  services: RunningService[];
  validatorHotkey: string;
  validatorHotkeys: string[];
  minerHotkeys: string[];
  /** The cheating miners started (service `cheater-<kind>`), with their hotkeys. */
  cheaters: { kind: CheatKind; hotkey: string }[];
  /** The service (or NATS/Redis process) of that name. */
  service(name: string): RunningService;
  /** Stops one service (SIGTERM) and waits for it to exit. */
  stopService(name: string): Promise<void>;
  /** Stops a service and starts it again with the same environment. */
  restartService(name: string): Promise<void>;
  /** Starts a service that has exited (or was killed) again, with the same environment and ports. */
  startService(name: string): Promise<void>;
  /** Sends a signal (SIGKILL by default) and waits for the process to be gone. */
  killService(name: string, signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

export class StackError extends Error {}

async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  child?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null)
      throw new StackError(`${what} exited with code ${child.exitCode} while starting`);
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new StackError(`${what} was not ready after ${timeoutMs / 1000} s`);
}

async function ready(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`);
    return response.ok;
  } catch {
    return false;
  }
}

function pipeLines(name: string, child: ChildProcess, onLine?: (name: string, line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let buffer = '';
    stream?.on('data', (data: Buffer) => {
      buffer += data.toString();
      let cut;
      while ((cut = buffer.indexOf('\n')) >= 0) {
        onLine?.(name, buffer.slice(0, cut));
        buffer = buffer.slice(cut + 1);
      }
    });
  }
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once('exit', () => r()));
}

async function terminate(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

/**
 * Starts the whole standalone stack as separate processes: NATS and Redis
 * (reused when already listening, else started from the local binaries),
 * chain-indexer, `miners` miners, one validator and the gateway, each on its
 * own ports, with dev hotkeys. Services must have been built (`npm run build`).
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const netuid = options.netuid ?? 1;
  const services: RunningService[] = [];
  mkdirSync(options.stateDir, { recursive: true });
  const stopAll = async () => {
    for (const service of [...services].reverse())
      await terminate(service.process, service.kind === 'infra' ? 5000 : 15_000);
  };

  try {
    const natsUrl = options.natsUrl ?? (await ensureNats(options, services));
    const redisUrl = options.redisUrl ?? (await ensureRedis(options, services));

    if (!existsSync(join(options.modelDir, 'config.json'))) {
      options.onLine?.(
        'stack',
        `generating the default model (${options.modelPreset ?? 'tiny'}) in ${options.modelDir}`,
      );
      await generateModel({ outDir: options.modelDir, preset: options.modelPreset ?? 'tiny' });
    }

    await initCrypto();
    const cheaters = [...new Set(options.cheaters ?? [])].map((kind) => ({
      kind,
      uri: `//chattensor/cheater/${kind}`,
      hotkey: Keypair.fromUri(`//chattensor/cheater/${kind}`).ss58Address,
    }));
    const validatorUris = Array.from({ length: options.validators ?? 1 }, (_, i) =>
      i === 0 ? '//chattensor/validator' : `//chattensor/validator/${i + 1}`,
    );
    const validatorHotkeys = validatorUris.map((uri) => Keypair.fromUri(uri).ss58Address);
    const minerUris = Array.from({ length: options.miners }, (_, i) => `//chattensor/miner/${i + 1}`);
    const common = {
      NATS_URL: natsUrl,
      REDIS_URL: redisUrl,
      NETUID: String(netuid),
      CHAIN_MODE: 'local',
      LOG_LEVEL: 'info',
      ...options.env,
    };

    const launch = async (
      name: string,
      entry: string,
      env: Record<string, string>,
      readyTimeoutMs = 60_000,
    ) => {
      const httpPort = Number(env.HTTP_PORT);
      // Ready means: this process said it listens on the port, and /readyz there answers. On a shared
      // machine another process may take a free port first; its /readyz must not pass for ours.
      const start = async () => {
        const child = spawnService(name, entry, env);
        // Below info level the service does not say it listens: then /readyz alone has to do.
        let listening = ['warn', 'error', 'fatal', 'silent'].includes(env.LOG_LEVEL ?? 'info');
        let seen = '';
        const said = `"port":${httpPort},"msg":"`;
        child.stdout?.on('data', (data: Buffer) => {
          if (listening) return;
          // Kept across chunks: the line may arrive in pieces.
          seen = (seen + data.toString()).slice(-4096);
          listening = seen.includes(said);
        });
        service.process = child;
        await waitFor(name, async () => listening && (await ready(httpPort)), readyTimeoutMs, child);
      };
      const service: RunningService = {
        name,
        process: undefined as unknown as ChildProcess,
        httpPort,
        env,
        kind: 'service',
        relaunch: start,
      };
      services.push(service);
      await start();
      return service;
    };
    const spawnService = (name: string, entry: string, env: Record<string, string>) => {
      const child = spawn(process.execPath, ['--enable-source-maps', join(DIST, entry)], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      pipeLines(name, child, options.onLine);
      return child;
    };

    const indexerPort = await freePort();
    await launch('chain-indexer', 'services/chain-indexer/src/main.js', {
      ...common,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(indexerPort),
      INDEXER_GRPC_HOST: '127.0.0.1',
      INDEXER_GRPC_PORT: String(await freePort()),
      // Miners announce every 2 s: one that stops leaves the metagraph within three beats.
      ANNOUNCE_TTL_MS: '6000',
    });
    await Promise.all(
      minerUris.map(async (uri, i) =>
        launch(`miner-${i + 1}`, 'services/miner/src/main.js', {
          ...common,
          HTTP_HOST: '127.0.0.1',
          HTTP_PORT: String(await freePort()),
          GRPC_HOST: '127.0.0.1',
          GRPC_PORT: String(await freePort()),
          ANNOUNCE_HOST: '127.0.0.1',
          ANNOUNCE_INTERVAL_MS: '2000',
          HOTKEY_URI: uri,
          MODEL_DIR: options.modelDir,
          MINER_ALLOWED_HOTKEYS: validatorHotkeys.join(','),
          // Two miners share the machine's cores.
          INTRA_OP_THREADS: '1',
          ...options.minerEnv,
        }),
      ),
    );
    // Cheaters are not miner services: a program of their own wraps the same engine and corrupts its answers.
    await Promise.all(
      cheaters.map(async (cheater) =>
        launch(`cheater-${cheater.kind}`, 'scripts/cheating-miner/main.js', {
          ...common,
          CHEAT: cheater.kind,
          HTTP_HOST: '127.0.0.1',
          HTTP_PORT: String(await freePort()),
          GRPC_HOST: '127.0.0.1',
          GRPC_PORT: String(await freePort()),
          ANNOUNCE_HOST: '127.0.0.1',
          ANNOUNCE_INTERVAL_MS: '2000',
          HOTKEY_URI: cheater.uri,
          MODEL_DIR: options.modelDir,
          // other-model: a cheaper model under the served model's tokenizer, generated once per served model.
          CHEAT_MODEL_DIR: join(
            options.stateDir,
            'cheaper-models',
            createHash('sha256').update(resolve(options.modelDir)).digest('hex').slice(0, 16),
          ),
          INTRA_OP_THREADS: '1',
        }),
      ),
    );
    await Promise.all(
      validatorUris.map(async (uri, i) =>
        launch(i === 0 ? 'validator' : `validator-${i + 1}`, 'services/validator/src/main.js', {
          ...common,
          HTTP_HOST: '127.0.0.1',
          HTTP_PORT: String(await freePort()),
          HOTKEY_URI: uri,
          WEIGHTS_INTERVAL_SECONDS: '10',
          // The miners' model is the reference their answers are verified against.
          REFERENCE_MODEL_DIR: options.modelDir,
          ...options.validatorEnv,
        }),
      ),
    );
    // MODEL_DIRS: the gateway counts prompt tokens with the served model's tokenizer (context_length_exceeded).
    await launch('gateway', 'services/gateway/src/main.js', {
      ...common,
      HTTP_HOST: '0.0.0.0',
      HTTP_PORT: String(options.gatewayPort),
      MODEL_DIRS: options.modelDir,
    });

    const byName = (name: string) => {
      const service = services.find((s) => s.name === name);
      if (!service) throw new StackError(`no service named ${name}`);
      return service;
    };
    return {
      gatewayUrl: `http://127.0.0.1:${options.gatewayPort}`,
      natsUrl,
      redisUrl,
      services,
      validatorHotkey: validatorHotkeys[0],
      validatorHotkeys,
      minerHotkeys: minerUris.map((uri) => Keypair.fromUri(uri).ss58Address),
      cheaters: cheaters.map(({ kind, hotkey }) => ({ kind, hotkey })),
      service: byName,
      stopService: async (name) => terminate(byName(name).process),
      restartService: async (name) => {
        const service = byName(name);
        await terminate(service.process);
        await service.relaunch();
      },
      startService: async (name) => {
        const service = byName(name);
        if (service.process.exitCode === null && service.process.signalCode === null) return;
        await service.relaunch();
      },
      killService: async (name, signal = 'SIGKILL') => {
        const child = byName(name).process;
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill(signal);
        await exited(child);
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Starts an infrastructure process (NATS, Redis) as a service of the stack, so it can be restarted like one. */
async function launchInfra(
  name: string,
  command: string,
  args: string[],
  port: number,
  options: StackOptions,
  services: RunningService[],
): Promise<void> {
  const start = () => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    pipeLines(name, child, options.onLine);
    return child;
  };
  const service: RunningService = {
    name,
    process: start(),
    httpPort: port,
    env: {},
    kind: 'infra',
    relaunch: async () => {
      service.process = start();
      await waitFor(command, () => listening(port), 10_000, service.process);
    },
  };
  services.push(service);
  await waitFor(command, () => listening(port), 10_000, service.process);
}

async function ensureNats(options: StackOptions, services: RunningService[]): Promise<string> {
  if (!options.ownInfra && (await listening(4222))) return 'nats://127.0.0.1:4222';
  if (!installed('nats-server')) {
    throw new StackError(
      'NATS is not running on 127.0.0.1:4222 and nats-server is not installed.\n' +
        '  Install it (Debian/Ubuntu: sudo apt-get install nats-server) or set NATS_URL to a NATS server with JetStream.',
    );
  }
  const port = options.ownInfra ? await freePort() : 4222;
  await launchInfra(
    'nats',
    'nats-server',
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(options.stateDir, 'nats')],
    port,
    options,
    services,
  );
  return `nats://127.0.0.1:${port}`;
}

async function ensureRedis(options: StackOptions, services: RunningService[]): Promise<string> {
  if (!options.ownInfra && (await listening(6379))) return 'redis://127.0.0.1:6379';
  if (!installed('redis-server')) {
    throw new StackError(
      'Redis is not running on 127.0.0.1:6379 and redis-server is not installed.\n' +
        '  Install it (Debian/Ubuntu: sudo apt-get install redis-server) or set REDIS_URL.',
    );
  }
  const port = options.ownInfra ? await freePort() : 6379;
  // Append-only file: conversations survive a restart of the demo.
  await launchInfra(
    'redis',
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--dir',
      options.stateDir,
      '--appendonly',
      'yes',
      '--save',
      '',
    ],
    port,
    options,
    services,
  );
  return `redis://127.0.0.1:${port}`;
}
