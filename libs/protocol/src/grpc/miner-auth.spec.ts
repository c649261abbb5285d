import { authFromMetadata, authToMetadata } from './miner-auth';

describe('miner call authentication metadata', () => {
  const auth = { nonce: 1_700_000_000_123_456_789n, dendriteHotkey: 'd', axonHotkey: 'a', uuid: 'u', bodyHash: 'h', signature: '0xsig' };

  it('round-trips through gRPC metadata, nonce as an exact integer', () => {
    const metadata = authToMetadata(auth, 30);
    expect(authFromMetadata((k) => metadata[k])).toEqual({ auth, timeoutSeconds: 30 });
  });

  it('leaves a malformed nonce out for the verifier to reject', () => {
    const metadata: Record<string, string> = { ...authToMetadata(auth, 30), 'bt-nonce': '12e9' };
    expect(authFromMetadata((k) => metadata[k]).auth.nonce).toBeUndefined();
  });

  it('falls back to a sane timeout when the caller sends none or nonsense', () => {
    expect(authFromMetadata(() => undefined).timeoutSeconds).toBe(12);
    expect(authFromMetadata((k) => (k === 'bt-timeout' ? '-5' : undefined)).timeoutSeconds).toBe(12);
  });
});
