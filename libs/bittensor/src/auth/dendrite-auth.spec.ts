import { Keypair, initCrypto } from '../keys/keypair';
import { AxonVerifier, DendriteSigner, dendriteMessage, timeNs, type DendriteAuth } from './dendrite-auth';

describe('AxonVerifier', () => {
  const S = 1_000_000_000n;
  let signer: DendriteSigner;
  let axonHotkey: string;

  beforeAll(async () => {
    await initCrypto();
    signer = new DendriteSigner(Keypair.fromUri('//Alice'));
    axonHotkey = Keypair.fromUri('//Bob').ss58Address;
  });

  const resign = (auth: DendriteAuth, nonce: bigint): DendriteAuth => {
    const unsigned = { ...auth, nonce };
    return { ...unsigned, signature: Keypair.fromUri('//Alice').sign(dendriteMessage(unsigned)) };
  };

  it('accepts a fresh signed request and then only strictly newer nonces', () => {
    const verifier = new AxonVerifier(axonHotkey);
    const first = signer.sign(axonHotkey, 'h');
    verifier.verify(first, 'h');
    expect(() => verifier.verify(first, 'h')).toThrow(expect.objectContaining({ reason: 'replayed_nonce' }));
    verifier.verify(signer.sign(axonHotkey, 'h'), 'h');
  });

  it('holds every nonce to a fixed window: at most 16 s old, at most 4 s ahead', () => {
    const verifier = new AxonVerifier(axonHotkey);
    const now = timeNs();
    const auth = signer.sign(axonHotkey, 'h');
    expect(() => verifier.verify(resign(auth, now - 16n * S), 'h', now)).toThrow(expect.objectContaining({ reason: 'stale_nonce' }));
    expect(() => verifier.verify(resign(auth, now - 3600n * S), 'h', now)).toThrow(expect.objectContaining({ reason: 'stale_nonce' }));
    expect(() => verifier.verify(resign(auth, now + 4n * S + 1n), 'h', now)).toThrow(expect.objectContaining({ reason: 'future_nonce' }));
    verifier.verify(resign(auth, now - 15n * S), 'h', now);
    // A later nonce of the same caller is held to the window too, not only to the order.
    expect(() => verifier.verify(resign(auth, now - 15n * S + 1n), 'h', now + 2n * S)).toThrow(expect.objectContaining({ reason: 'stale_nonce' }));
    verifier.verify(resign(auth, now + 4n * S), 'h', now);
  });

  it('always rejects a missing signature, a wrong axon, a changed body hash and a forged signature', () => {
    const verifier = new AxonVerifier(axonHotkey);
    const auth = signer.sign(axonHotkey, 'h');
    expect(() => verifier.verify({ ...auth, signature: undefined }, 'h')).toThrow(expect.objectContaining({ reason: 'missing_signature' }));
    expect(() => verifier.verify(signer.sign(Keypair.fromUri('//Charlie').ss58Address, 'h'), 'h')).toThrow(expect.objectContaining({ reason: 'wrong_axon' }));
    expect(() => verifier.verify(auth, 'other')).toThrow(expect.objectContaining({ reason: 'body_hash_mismatch' }));
    const forged = { ...auth, signature: Keypair.fromUri('//Mallory').sign(dendriteMessage(auth)) };
    expect(() => verifier.verify(forged, 'h')).toThrow(expect.objectContaining({ reason: 'bad_signature' }));
  });
});

describe('DendriteSigner lanes', () => {
  beforeAll(async () => {
    await initCrypto();
  });

  it('gives overlapping requests to one axon different uuids and reuses them afterwards', () => {
    const signer = new DendriteSigner(Keypair.fromUri('//Alice'));
    const axon = Keypair.fromUri('//Bob').ss58Address;
    const a = signer.acquireLane(axon);
    const b = signer.acquireLane(axon);
    expect(a.uuid).toBe(signer.uuid);
    expect(b.uuid).not.toBe(a.uuid);
    // Signed b first, a second, delivered a then b: each uuid still sees increasing nonces.
    const verifier = new AxonVerifier(axon);
    const signedB = b.sign('h');
    const signedA = a.sign('h');
    verifier.verify(signedA, 'h');
    verifier.verify(signedB, 'h');
    a.release();
    b.release();
    expect(signer.acquireLane(axon).uuid).toBe(signer.uuid);
    expect(signer.acquireLane(axon).uuid).toBe(b.uuid);
  });
});
