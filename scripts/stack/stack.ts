import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Keypair, initCrypto } from '@chattensor/bittensor';
import { generateModel } from '@chattensor/inference';
import { freePort, installed, listening } from './ports';

export { freePort };

/** Repository root, from dist/scripts/stack or scripts/stack. */
export const REPO_ROOT = resolve(__dirname, existsSync(join(__dirname, '..', '..', 'package.json')) ? '../..' : '../../..');
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
}

export interface RunningService {
  name: string;
  process: ChildProcess;
  httpPort: number;
  env: Record<string, string>;
}

export interface Stack {
  gatewayUrl: string;
  natsUrl: string;
  redisUrl: string;
  services: RunningService[];
  validatorHotkey: string;
  minerHotkeys: string[];
  /** Stops one service (SIGTERM) and waits for it to exit. */
  stopService(name: string): Promise<void>;
  /** Starts a stopped service again with the same environment. */
  restartService(name: string): Promise<void>;
  stop(): Promise<void>;
}

export class StackError extends Error {}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new StackError(`${what} exited with code ${child.exitCode} while starting`);
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
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
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
  const infra: ChildProcess[] = [];
  const services: RunningService[] = [];
  mkdirSync(options.stateDir, { recursive: true });
  const stopAll = async () => {
    for (const service of [...services].reverse()) await terminate(service.process);
    for (const child of infra.reverse()) await terminate(child, 5000);
  };

  try {
    const natsUrl = options.natsUrl ?? (await ensureNats(options, infra));
    const redisUrl = options.redisUrl ?? (await ensureRedis(options, infra));

    if (!existsSync(join(options.modelDir, 'config.json'))) {
      options.onLine?.('stack', `generating the default model (${options.modelPreset ?? 'tiny'}) in ${options.modelDir}`);
      await generateModel({ outDir: options.modelDir, preset: options.modelPreset ?? 'tiny' });
    }

    await initCrypto();
    const validatorUri = '//chattensor/validator';
    const validatorHotkey = Keypair.fromUri(validatorUri).ss58Address;
    const minerUris = Array.from({ length: options.miners }, (_, i) => `//chattensor/miner/${i + 1}`);
    const common = { NATS_URL: natsUrl, REDIS_URL: redisUrl, NETUID: String(netuid), CHAIN_MODE: 'local', LOG_LEVEL: 'info', ...options.env };

    const launch = async (name: string, entry: string, env: Record<string, string>, readyTimeoutMs = 60_000) => {
      const httpPort = Number(env.HTTP_PORT);
      const child = spawn(process.execPath, ['--enable-source-maps', join(DIST, entry)], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      pipeLines(name, child, options.onLine);
      const service = { name, process: child, httpPort, env };
      services.push(service);
      await waitFor(name, () => ready(httpPort), readyTimeoutMs, child);
      return service;
    };

    const indexerPort = await freePort();
    await launch('chain-indexer', 'services/chain-indexer/src/main.js', {
      ...common,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(indexerPort),
      INDEXER_GRPC_HOST: '127.0.0.1',
      INDEXER_GRPC_PORT: String(await freePort()),
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
          MINER_ALLOWED_HOTKEYS: validatorHotkey,
          // Two miners share the machine's cores.
          INTRA_OP_THREADS: '1',
        }),
      ),
    );
    await launch('validator', 'services/validator/src/main.js', {
      ...common,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(await freePort()),
      HOTKEY_URI: validatorUri,
      WEIGHTS_INTERVAL_SECONDS: '10',
      // The miners' model is the reference their answers are verified against.
      REFERENCE_MODEL_DIR: options.modelDir,
    });
    await launch('gateway', 'services/gateway/src/main.js', { ...common, HTTP_HOST: '0.0.0.0', HTTP_PORT: String(options.gatewayPort) });

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
      validatorHotkey,
      minerHotkeys: minerUris.map((uri) => Keypair.fromUri(uri).ss58Address),
      stopService: async (name) => terminate(byName(name).process),
      restartService: async (name) => {
        const old = byName(name);
        await terminate(old.process);
        services.splice(services.indexOf(old), 1);
        const entry = `services/${name.replace(/-\d+$/, '')}/src/main.js`;
        await launch(name, entry, old.env);
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function ensureNats(options: StackOptions, infra: ChildProcess[]): Promise<string> {
  if (await listening(4222)) return 'nats://127.0.0.1:4222';
  if (!installed('nats-server')) {
    throw new StackError(
      'NATS is not running on 127.0.0.1:4222 and nats-server is not installed.\n' +
        '  Install it (Debian/Ubuntu: sudo apt-get install nats-server) or set NATS_URL to a NATS server with JetStream.',
    );
  }
  const port = 4222;
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(options.stateDir, 'nats')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pipeLines('nats', child, options.onLine);
  infra.push(child);
  await waitFor('nats-server', () => listening(port), 10_000, child);
  return `nats://127.0.0.1:${port}`;
}

async function ensureRedis(options: StackOptions, infra: ChildProcess[]): Promise<string> {
  if (await listening(6379)) return 'redis://127.0.0.1:6379';
  if (!installed('redis-server')) {
    throw new StackError(
      'Redis is not running on 127.0.0.1:6379 and redis-server is not installed.\n' +
        '  Install it (Debian/Ubuntu: sudo apt-get install redis-server) or set REDIS_URL.',
    );
  }
  const port = 6379;
  // Append-only file: conversations survive a restart of the demo.
  const child = spawn(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(port), '--dir', options.stateDir, '--appendonly', 'yes', '--save', ''],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  pipeLines('redis', child, options.onLine);
  infra.push(child);
  await waitFor('redis-server', () => listening(port), 10_000, child);
  return `redis://127.0.0.1:${port}`;
}
