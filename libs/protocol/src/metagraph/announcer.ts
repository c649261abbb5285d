import type { NatsConnection } from 'nats';
import type { Keypair } from '@chattensor/bittensor';
import { Subjects } from '../nats/subjects';
import { encodeJson } from '../nats/codec.util';
import { signedAnnouncement } from './announce.util';
import type { Announcement } from './metagraph.schema';

export interface AnnouncerOptions {
  keypair: Keypair;
  intervalMs: number;
  /** Called at every beat; returning undefined skips the beat (e.g. model still loading). */
  fields: () => Pick<Announcement, 'netuid' | 'role' | 'host' | 'port' | 'model'> | undefined;
}

/**
 * Standalone mode's registration: a signed announcement now and then as a
 * heartbeat; a neuron that stops announcing drops out of the metagraph.
 * Returns a function that stops it.
 */
export function startAnnouncing(nc: NatsConnection, options: AnnouncerOptions): () => void {
  const beat = () => {
    const fields = options.fields();
    if (!fields || nc.isClosed()) return;
    nc.publish(Subjects.registryAnnounce, encodeJson(signedAnnouncement(options.keypair, fields)));
  };
  beat();
  const timer = setInterval(beat, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
