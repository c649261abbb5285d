import { Keypair, initCrypto, signBtAuth, verifyBtAuth, BtAuthError } from '@chattensor/bittensor';
import type { MinerIdentity } from '../identity/miner-identity';
import type { AxonConfig } from './axon.config';
import { MinerNonceStore } from './miner-nonce-store';

describe('btauth/1 replay protection across miner replicas', () => {
  const miner = Keypair.fromUri('//replicas/miner');
  const validator = Keypair.fromUri('//replicas/validator');
  const config = (nonceRedisUrl?: string): AxonConfig => ({
    enabled: true,
    host: '127.0.0.1',
    port: 0,
    maxTimeoutSeconds: 30,
    bodyLimitBytes: 1 << 20,
    nonceRedisUrl,
  });
  const identity = { hotkey: miner } as MinerIdentity;
  const stores: MinerNonceStore[] = [];

  beforeAll(async () => {
    await initCrypto();
  });

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.onApplicationShutdown()));
  });

  const replica = (url?: string) => {
    const store = new MinerNonceStore(config(url), identity);
    stores.push(store);
    return store;
  };

  const verifyAt = (store: MinerNonceStore, headers: Record<string, string>, body: Buffer) =>
    verifyBtAuth(headers, body, {
      method: 'POST',
      path: '/v1/chat/completions',
      selfHotkey: miner.ss58Address,
      nonceStore: store,
    });

  it('refuses on one replica a request another replica already accepted (shared Redis)', async () => {
    const [a, b] = [replica(process.env.REDIS_URL), replica(process.env.REDIS_URL)];
    expect(a.shared && b.shared).toBe(true);
    const body = Buffer.from('{"messages":[]}');
    const headers = signBtAuth(validator, {
      method: 'POST',
      path: '/v1/chat/completions',
      body,
      receiver: miner.ss58Address,
    });
    await expect(verifyAt(a, headers, body)).resolves.toMatchObject({ hotkey: validator.ss58Address });
    await expect(verifyAt(b, headers, body)).rejects.toEqual(expect.objectContaining({ kind: 'replayed' }));
    await expect(verifyAt(a, headers, body)).rejects.toBeInstanceOf(BtAuthError);
    // A fresh request from the same caller goes through on either.
    const next = signBtAuth(validator, {
      method: 'POST',
      path: '/v1/chat/completions',
      body,
      receiver: miner.ss58Address,
    });
    await expect(verifyAt(b, next, body)).resolves.toMatchObject({ hotkey: validator.ss58Address });
  });

  it('keeps one process memory when no Redis is configured', async () => {
    const [a, b] = [replica(), replica()];
    expect(a.shared).toBe(false);
    const body = Buffer.from('{}');
    const headers = signBtAuth(validator, {
      method: 'POST',
      path: '/v1/chat/completions',
      body,
      receiver: miner.ss58Address,
    });
    await verifyAt(a, headers, body);
    await expect(verifyAt(a, headers, body)).rejects.toEqual(expect.objectContaining({ kind: 'replayed' }));
    // Separate processes do not see each other's nonces: why several replicas need BTAUTH_REDIS_URL.
    await expect(verifyAt(b, headers, body)).resolves.toBeDefined();
  });
});
