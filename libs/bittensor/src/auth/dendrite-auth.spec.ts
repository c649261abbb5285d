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
    verifier.verify(first, 'h', 12);
    expect(() => verifier.verify(first, 'h', 12)).toThrow(expect.objectContaining({ reason: 'replayed_nonce' }));
    verifier.verify(signer.sign(axonHotkey, 'h'), 'h', 12);
  });

  it('rejects a first nonce older than 4 s plus the synapse timeout, as the SDK does', () => {
    const verifier = new AxonVerifier(axonHotkey);
    const now = timeNs();
    const auth = signer.sign(axonHotkey, 'h');
    expect(() => verifier.verify(resign(auth, now - 4n * S - 12n * S - 1n), 'h', 12, now)).toThrow(expect.objectContaining({ reason: 'stale_nonce' }));
    verifier.verify(resign(auth, now - 4n * S - 11n * S), 'h', 12, now);
  });

  it('always rejects a missing signature, a wrong axon, a changed body hash and a forged signature', () => {
    const verifier = new AxonVerifier(axonHotkey);
    const auth = signer.sign(axonHotkey, 'h');
    expect(() => verifier.verify({ ...auth, signature: undefined }, 'h', 12)).toThrow(expect.objectContaining({ reason: 'missing_signature' }));
    expect(() => verifier.verify(signer.sign(Keypair.fromUri('//Charlie').ss58Address, 'h'), 'h', 12)).toThrow(expect.objectContaining({ reason: 'wrong_axon' }));
    expect(() => verifier.verify(auth, 'other', 12)).toThrow(expect.objectContaining({ reason: 'body_hash_mismatch' }));
    const forged = { ...auth, signature: Keypair.fromUri('//Mallory').sign(dendriteMessage(auth)) };
    expect(() => verifier.verify(forged, 'h', 12)).toThrow(expect.objectContaining({ reason: 'bad_signature' }));
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
    verifier.verify(signedA, 'h', 12);
    verifier.verify(signedB, 'h', 12);
    a.release();
    b.release();
    expect(signer.acquireLane(axon).uuid).toBe(signer.uuid);
    expect(signer.acquireLane(axon).uuid).toBe(b.uuid);
  });
});
