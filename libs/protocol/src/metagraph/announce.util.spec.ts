import { Keypair, initCrypto, verifySignature } from '@chattensor/bittensor';
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
