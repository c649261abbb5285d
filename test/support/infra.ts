import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, installed, listening } from '../../scripts/stack/ports';

export { freePort };

export interface Infra {
  natsUrl: string;
  redisUrl: string;
  stop(): Promise<void>;
}

function dockerAvailable(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await listening(port))) {
    if (Date.now() > deadline) throw new Error(`nothing listening on port ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * NATS (JetStream) and Redis for tests: the ones named by NATS_URL / REDIS_URL,
 * else containers when a Docker engine answers, else the local binaries
 * started on free ports in a scratch directory. `ownNats` starts a NATS of the
 * suite's own even when NATS_URL names a shared one: a suite that runs a
 * validator in process needs it, since every validator takes jobs from the
 * same `chat.completions` queue group, and suites run in parallel.
 */
export async function provideInfra(options: { ownNats?: boolean } = {}): Promise<Infra> {
  const stops: (() => Promise<void>)[] = [];
  let natsUrl = options.ownNats ? undefined : process.env.NATS_URL;
  let redisUrl = process.env.REDIS_URL;

  if ((!natsUrl || !redisUrl) && dockerAvailable()) {
    const { GenericContainer } = await import('testcontainers');
    if (!natsUrl) {
      const nats = await new GenericContainer('nats:2.10-alpine')
        .withCommand(['-js'])
        .withExposedPorts(4222)
        .start();
      natsUrl = `nats://${nats.getHost()}:${nats.getMappedPort(4222)}`;
      stops.push(async () => void (await nats.stop()));
    }
    if (!redisUrl) {
      const redis = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
      redisUrl = `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`;
      stops.push(async () => void (await redis.stop()));
    }
  }

  const dir = mkdtempSync(join(tmpdir(), 'chattensor-test-'));
  const children: ChildProcess[] = [];
  if (!natsUrl) {
    if (!installed('nats-server'))
      throw new Error(
        'NATS_URL is not set, no Docker engine answers, and nats-server is not installed (apt-get install nats-server)',
      );
    const port = await freePort();
    children.push(
      spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'js')], {
        stdio: 'ignore',
      }),
    );
    await waitForPort(port);
    natsUrl = `nats://127.0.0.1:${port}`;
  }
  if (!redisUrl) {
    if (!installed('redis-server'))
      throw new Error(
        'REDIS_URL is not set, no Docker engine answers, and redis-server is not installed (apt-get install redis-server)',
      );
    const port = await freePort();
    children.push(
      spawn(
        'redis-server',
        ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      ),
    );
    await waitForPort(port);
    redisUrl = `redis://127.0.0.1:${port}`;
  }
  stops.push(async () => {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    rmSync(dir, { recursive: true, force: true });
  });

  return {
    natsUrl,
    redisUrl,
    stop: async () => {
      for (const stop of stops.reverse()) await stop();
    },
  };
}
