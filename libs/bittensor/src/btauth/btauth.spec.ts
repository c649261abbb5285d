import { Keypair, CRYPTO_ED25519, initCrypto } from '../keys/keypair';
import { BtAuthError, InMemoryNonceStore, btAuthPayload, signBtAuth, verifyBtAuth } from './btauth';

const S = 1_000_000_000n;

describe('btauth/1', () => {
  let sender: Keypair;
  let edSender: Keypair;
  let receiver: string;

  beforeAll(async () => {
    await initCrypto();
    sender = Keypair.fromUri('//Alice');
    edSender = Keypair.fromUri('//Alice', CRYPTO_ED25519);
    receiver = Keypair.fromUri('//Bob').ss58Address;
  });

  const body = Buffer.from('{"model":"m","messages":[]}');
  const options = (store = new InMemoryNonceStore(), extra: Partial<Parameters<typeof verifyBtAuth>[2]> = {}) => ({
    method: 'POST',
    path: '/v1/chat/completions',
    selfHotkey: receiver,
    nonceStore: store,
    ...extra,
  });
  const expectRefused = async (promise: Promise<unknown>, kind: BtAuthError['kind'], status: number) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BtAuthError);
    expect({ kind: (error as BtAuthError).kind, status: (error as BtAuthError).httpStatus }).toEqual({ kind, status });
    return error as BtAuthError;
  };

  it('builds the SDK payload: newline-joined protocol, scheme, method, target, body sha256, nonce, sender, receiver', () => {
    const payload = btAuthPayload({ scheme: 'sr25519', method: 'post', path: '/x?a=1', body: '', nonceNs: 5n, sender: 'A', receiver: undefined });
    expect(payload.toString()).toBe('btauth/1\nsr25519\nPOST\n/x?a=1\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n5\nA\n-');
  });

  it('signs with the SDK headers and verifies sr25519 and ed25519 callers', async () => {
    const headers = signBtAuth(sender, { method: 'POST', path: '/v1/chat/completions', body, receiver });
    expect(Object.keys(headers)).toEqual(['X-Bittensor-Version', 'X-Bittensor-Hotkey', 'X-Bittensor-Nonce', 'X-Bittensor-Signature', 'X-Bittensor-Receiver']);
    expect((await verifyBtAuth(headers, body, options())).hotkey).toBe(sender.ss58Address);
    const ed = signBtAuth(edSender, { method: 'POST', path: '/v1/chat/completions', body, receiver });
    expect(ed['X-Bittensor-Crypto']).toBe('ed25519');
    expect(await verifyBtAuth(ed, body, options())).toMatchObject({ hotkey: edSender.ss58Address, cryptoType: CRYPTO_ED25519 });
    // The declared scheme only: an ed25519 signature claimed as sr25519 fails.
    const { ['X-Bittensor-Crypto']: _scheme, ...undeclared } = ed;
    await expectRefused(verifyBtAuth(undeclared, body, options()), 'bad_signature', 401);
  });

  it('refuses replayed, stale, future, forged, wrong-receiver and tampered requests', async () => {
    const store = new InMemoryNonceStore();
    const now = 1_800_000_000n * S;
    const at = (nonceNs: bigint, extra: Partial<Parameters<typeof signBtAuth>[1]> = {}) =>
      signBtAuth(sender, { method: 'POST', path: '/v1/chat/completions', body, receiver, nonceNs, ...extra });
    const fresh = at(now);
    await verifyBtAuth(fresh, body, options(store, { nowNs: now }));
    await expectRefused(verifyBtAuth(fresh, body, options(store, { nowNs: now })), 'replayed', 401);
    await expectRefused(verifyBtAuth(at(now - 10n * S - 1n), body, options(store, { nowNs: now })), 'stale', 401);
    await verifyBtAuth(at(now - 10n * S), body, options(store, { nowNs: now }));
    await expectRefused(verifyBtAuth(at(now + 2n * S + 1n), body, options(store, { nowNs: now })), 'stale', 401);
    await verifyBtAuth(at(now + 2n * S), body, options(store, { nowNs: now }));
    const forged = { ...at(now + 1n), 'X-Bittensor-Signature': Keypair.fromUri('//Mallory').sign('x') };
    await expectRefused(verifyBtAuth(forged, body, options(store, { nowNs: now })), 'bad_signature', 401);
    await expectRefused(verifyBtAuth(at(now + 2n, { receiver: sender.ss58Address }), body, options(store, { nowNs: now })), 'wrong_receiver', 403);
    await expectRefused(verifyBtAuth(at(now + 3n, { receiver: undefined }), body, options(store, { nowNs: now })), 'wrong_receiver', 403);
    await expectRefused(verifyBtAuth(at(now + 4n), Buffer.from('{"model":"n","messages":[]}'), options(store, { nowNs: now })), 'bad_signature', 401);
    await expectRefused(verifyBtAuth(at(now + 5n), body, { ...options(store, { nowNs: now }), path: '/v1/other' }), 'bad_signature', 401);
    // A forged request never takes its nonce: the genuine one still goes through afterwards.
    await verifyBtAuth(at(now + 1n), body, options(store, { nowNs: now }));
  });

  it('reads headers in any case and parses them as the SDK does, with messages that echo nothing', async () => {
    const headers = signBtAuth(sender, { method: 'POST', path: '/p', body, receiver, nonceNs: 1_000n * S });
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    const opts = options(new InMemoryNonceStore(), { nowNs: 1_000n * S, path: '/p' });
    await verifyBtAuth({ ...lower, 'x-bittensor-nonce': ` +${1_000n * S} ` }, body, opts);
    const noVersion = await expectRefused(verifyBtAuth({ ...lower, 'x-bittensor-version': '2' }, body, opts), 'malformed', 401);
    expect(noVersion.message).toBe("missing or unsupported X-Bittensor-Version (expected '1')");
    await expectRefused(verifyBtAuth({ ...lower, 'x-bittensor-nonce': '12x' }, body, opts), 'malformed', 401);
    await expectRefused(verifyBtAuth({ ...lower, 'x-bittensor-crypto': 'ecdsa' }, body, opts), 'malformed', 401);
    await expectRefused(verifyBtAuth({ ...lower, 'x-bittensor-signature': '0xzz' }, body, opts), 'malformed', 401);
    const short = await expectRefused(verifyBtAuth({ ...lower, 'x-bittensor-signature': lower['x-bittensor-signature'].slice(0, -2) }, body, opts), 'malformed', 401);
    expect(short.message).toBe('invalid hotkey address or signature encoding');
    const stale = await expectRefused(verifyBtAuth(lower, body, { ...opts, nowNs: 2_000n * S }), 'stale', 401);
    expect(stale.message).toBe('nonce is older than the 10s freshness window');
    expect(stale.message).not.toContain(lower['x-bittensor-signature']);
  });

  it('refuses a nonce store that forgets before the window closes', async () => {
    const headers = signBtAuth(sender, { method: 'POST', path: '/p', body, receiver });
    await expect(verifyBtAuth(headers, body, options(new InMemoryNonceStore(5), { path: '/p' }))).rejects.toThrow(/retention/);
  });

  it('forgets nonces after the retention time', () => {
    let clock = 0;
    const store = new InMemoryNonceStore(60, () => clock);
    expect(store.checkAndStore('a', 1n)).toBe(true);
    expect(store.checkAndStore('a', 1n)).toBe(false);
    clock = 60_001;
    expect(store.checkAndStore('b', 1n)).toBe(true);
    expect(store.size).toBe(1);
    expect(store.checkAndStore('a', 1n)).toBe(true);
  });
});
