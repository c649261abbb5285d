import type { ServeAxonArgs } from '@chattensor/bittensor';

/** The serve_axon a miner asks for at an address: what it requests, and what it agrees to sign. */
export function serveAxonArgsOf(netuid: number, address: { ip: string; port: number }): ServeAxonArgs {
  return { netuid, version: 0, ip: address.ip, port: address.port, protocol: 4 };
}
