import { CRYPTO_ED25519, type Keypair } from '@chattensor/bittensor';
import { announceMessage, type Announcement } from './metagraph.schema';

/** A standalone-mode announcement signed by the announcer's hotkey. */
export function signedAnnouncement(
  keypair: Keypair,
  fields: Pick<Announcement, 'netuid' | 'role' | 'host' | 'port' | 'model'>,
  now = Date.now(),
): Announcement {
  const unsigned = { ...fields, hotkey: keypair.ss58Address, timestamp: now };
  const signed: Announcement = { v: 1, ...unsigned, signature: keypair.sign(announceMessage(unsigned)) };
  if (keypair.cryptoType === CRYPTO_ED25519) signed.crypto = 'ed25519';
  return signed;
}
