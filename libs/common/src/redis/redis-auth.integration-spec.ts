import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import { freePort } from '../../../../test/support/infra';
import { expectEventually } from '../../../../test/support/expect-eventually';
import { OpsModule } from '../health/ops.module';
import { ReadinessRegistry } from '../health/readiness.registry';
import { RedisModule, RedisService } from './redis.module';

function waitForPort(port: number): Promise<void> {
  return expectEventually(
    () =>
      new Promise<void>((resolve, reject) => {
        const socket = createConnection(port, '127.0.0.1', () => {
          socket.end();
          resolve();
        });
        socket.on('error', reject);
      }),
    10_000,
  );
}

/** A Redis that requires a password, as the chart runs it with redis.auth. */
describe('Redis authentication', () => {
  let server: ChildProcess;
  let url: string;
  const saved = { password: process.env.REDIS_PASSWORD, username: process.env.REDIS_USERNAME };

  beforeAll(async () => {
    const port = await freePort();
    server = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--save',
        '',
        '--appendonly',
        'no',
        '--requirepass',
        'pw-from-a-secret',
      ],
      { stdio: 'ignore' },
    );
    url = `redis://127.0.0.1:${port}`;
    await waitForPort(port);
  });

  afterAll(() => {
    server?.kill('SIGTERM');
    process.env.REDIS_PASSWORD = saved.password;
    process.env.REDIS_USERNAME = saved.username;
    if (saved.password === undefined) delete process.env.REDIS_PASSWORD;
    if (saved.username === undefined) delete process.env.REDIS_USERNAME;
  });

  it('authenticates with REDIS_PASSWORD, kept out of REDIS_URL', async () => {
    process.env.REDIS_PASSWORD = 'pw-from-a-secret';
    const module = await Test.createTestingModule({
      imports: [OpsModule, RedisModule.forRoot({ url, name: 'auth-test' })],
    }).compile();
    try {
      const redis = module.get(RedisService);
      await redis.client.set('chattensor:test:auth', '1', 'EX', 10);
      expect(await redis.client.get('chattensor:test:auth')).toBe('1');
      expect((await module.get(ReadinessRegistry).report()).checks.redis).toEqual({ ok: true });
    } finally {
      await module.close();
    }
  });

  it("finds the primary through Redis Sentinel (REDIS_SENTINELS), REDIS_URL's host unused", async () => {
    const sentinelPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'chattensor-sentinel-'));
    const primaryPort = Number(new URL(url).port);
    // Sentinel rewrites its configuration file: it must be writable.
    writeFileSync(
      join(dir, 'sentinel.conf'),
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `sentinel monitor chattensor 127.0.0.1 ${primaryPort} 1`,
        'sentinel auth-pass chattensor pw-from-a-secret',
        '',
      ].join('\n'),
    );
    const sentinel = spawn('redis-server', [join(dir, 'sentinel.conf'), '--sentinel'], { stdio: 'ignore' });
    process.env.REDIS_PASSWORD = 'pw-from-a-secret';
    process.env.REDIS_SENTINELS = `127.0.0.1:${sentinelPort}`;
    process.env.REDIS_SENTINEL_MASTER = 'chattensor';
    try {
      await waitForPort(sentinelPort);
      const module = await Test.createTestingModule({
        // Nothing listens on port 1: only the sentinel can lead the client to the primary.
        imports: [OpsModule, RedisModule.forRoot({ url: 'redis://127.0.0.1:1', name: 'sentinel-test' })],
      }).compile();
      try {
        const redis = module.get(RedisService);
        await redis.client.set('chattensor:test:sentinel', 'via-sentinel', 'EX', 10);
        expect(await redis.client.get('chattensor:test:sentinel')).toBe('via-sentinel');
        expect(redis.client.options.sentinels).toEqual([{ host: '127.0.0.1', port: sentinelPort }]);
      } finally {
        await module.close();
      }
    } finally {
      delete process.env.REDIS_SENTINELS;
      delete process.env.REDIS_SENTINEL_MASTER;
      sentinel.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
