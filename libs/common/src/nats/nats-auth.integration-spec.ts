import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeys } from 'nats';
import { freePort } from '../../../../test/support/infra';
import { expectEventually } from '../../../../test/support/expect-eventually';
import { ConfigError } from '../config/config.util';
import { ReadinessRegistry } from '../health/readiness.registry';
import { NatsService, natsAuthFromEnv } from './nats.module';

/** A nats-server of its own, with the authorization block given, on a free port. */
async function natsServer(dir: string, authorization: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const config = join(dir, `nats-${port}.conf`);
  writeFileSync(config, `listen: 127.0.0.1:${port}\nauthorization {\n${authorization}\n}\n`);
  const child = spawn('nats-server', ['-c', config], { stdio: 'ignore' });
  const url = `nats://127.0.0.1:${port}`;
  // Up once it answers, even if with an authorization error.
  await expectEventually(async () => {
    const error = await connect({ servers: url, timeout: 1000 }).then(
      async (nc) => nc.close(),
      (e: Error) => e,
    );
    expect(String(error)).toMatch(/Authorization Violation/);
  }, 10_000);
  return { url, child };
}

describe('NATS authentication', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chattensor-nats-auth-'));
  const children: ChildProcess[] = [];
  const services: NatsService[] = [];

  afterAll(async () => {
    for (const service of services) await service.onApplicationShutdown();
    for (const child of children) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  async function connected(url: string, env: NodeJS.ProcessEnv): Promise<NatsService> {
    const readiness = new ReadinessRegistry();
    const service = new NatsService(
      { servers: [url], name: 'auth-test', auth: natsAuthFromEnv(env) },
      readiness,
    );
    services.push(service);
    await service.connect();
    await service.nc.flush();
    expect((await readiness.report()).checks.nats).toEqual({ ok: true });
    return service;
  }

  it('connects with the token of NATS_TOKEN to a server that requires it', async () => {
    const { url, child } = await natsServer(dir, '  token: "s3cret-token-of-the-release"');
    children.push(child);
    await connected(url, { NATS_TOKEN: 's3cret-token-of-the-release' });
  });

  it('connects with the NKey seed of NATS_NKEY_SEED to a server that lists its public key', async () => {
    const user = nkeys.createUser();
    const publicKey: string = user.getPublicKey();
    const { url, child } = await natsServer(dir, `  users: [ { nkey: ${publicKey} } ]`);
    children.push(child);
    await connected(url, { NATS_NKEY_SEED: new TextDecoder().decode(user.getSeed()) });
  });

  it('names the variable of a malformed seed, and refuses both credentials at once', () => {
    expect(() => natsAuthFromEnv({ NATS_NKEY_SEED: 'not-a-seed' })).toThrow(/NATS_NKEY_SEED/);
    expect(() => natsAuthFromEnv({ NATS_TOKEN: 't', NATS_NKEY_SEED: `SU${'A'.repeat(56)}` })).toThrow(
      ConfigError,
    );
    expect(natsAuthFromEnv({})).toEqual({});
  });
});
