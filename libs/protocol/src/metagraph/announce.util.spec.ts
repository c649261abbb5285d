import { CRYPTO_ED25519, Keypair, initCrypto, verifySignature } from '@chattensor/bittensor';
import { signedAnnouncement } from './announce.util';
import { announceMessage, announcementSchema } from './metagraph.schema';

describe('signedAnnouncement', () => {
  beforeAll(() => initCrypto());

  it('is a valid announcement signed by the hotkey over every field', () => {
    const key = Keypair.fromUri('//announce');
    const a = signedAnnouncement(key, { netuid: 1, role: 'miner', host: '10.1.2.3', port: 50051, model: 'm' }, 1_700_000_000_000);
    expect(announcementSchema.parse(a)).toEqual(a);
    expect(verifySignature(announceMessage(a), a.signature, key.ss58Address)).toBe(true);
  });

  it('does not verify once any field is changed', () => {
    const key = Keypair.fromUri('//announce');
    const a = signedAnnouncement(key, { netuid: 1, role: 'miner', host: '10.1.2.3', port: 50051 });
    for (const changed of [{ ...a, port: 50052 }, { ...a, host: '6.6.6.6' }, { ...a, role: 'validator' as const }, { ...a, timestamp: a.timestamp + 1 }]) {
      expect(verifySignature(announceMessage(changed), a.signature, key.ss58Address)).toBe(false);
    }
  });
});

describe('ed25519 announcements', () => {
  it('declare their scheme, so the registry verifies them under it', async () => {
    await initCrypto();
    const key = Keypair.fromUri('//announce//ed', CRYPTO_ED25519);
    const a = signedAnnouncement(key, { netuid: 1, role: 'miner', host: 'h', port: 1 });
    expect(a.crypto).toBe('ed25519');
    expect(verifySignature(announceMessage(a), a.signature, a.hotkey, CRYPTO_ED25519)).toBe(true);
    expect(verifySignature(announceMessage(a), a.signature, a.hotkey)).toBe(false);
  });
});
