import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { Test } from '@nestjs/testing';
import { freePort } from '../../../../test/support/infra';
import { expectEventually } from '../../../../test/support/expect-eventually';
import { OpsModule } from '../health/ops.module';
import { ReadinessRegistry } from '../health/readiness.registry';
import { RedisModule, RedisService } from './redis.module';

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
    await expectEventually(
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
});
