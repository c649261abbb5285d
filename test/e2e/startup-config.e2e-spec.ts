import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const DIST = join(__dirname, '..', '..', 'dist', 'services');

function start(service: string, env: Record<string, string>) {
  const result = spawnSync(process.execPath, [join(DIST, service, 'src', 'main.js')], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: result.status, stderr: result.stderr };
}

describe('a service started with a bad variable', () => {
  it.each([
    ['gateway', { HTTP_PORT: 'http' }, 'HTTP_PORT'],
    ['gateway', { REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
    ['validator', { HOTKEY_URI: '//v', MINERS_PER_REQUEST: '0' }, 'MINERS_PER_REQUEST'],
    ['validator', {}, 'HOTKEY_URI'],
    ['miner', { HOTKEY_URI: '//m' }, 'MODEL_DIR'],
    ['miner', { HOTKEY_URI: '//m', MODEL_DIR: '/m', MINER_DEVICE: 'tpu' }, 'MINER_DEVICE'],
    ['miner', { HOTKEY_URI: '//m', MODEL_DIR: '/nonexistent/model' }, '/nonexistent/model'],
    ['chain-indexer', { CHAIN_MODE: 'mainnet' }, 'CHAIN_MODE'],
    ['chain-indexer', { NATS_URL: 'nats://ok:4222,http://bad' }, 'NATS_URL'],
  ])('%s exits at once with code 78, naming %j', (service, env, variable) => {
    const { code, stderr } = start(service, env);
    expect(code).toBe(78);
    expect(stderr).toContain(variable);
  });

});
