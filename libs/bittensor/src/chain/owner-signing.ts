import { hexToU8a, isHex, u8aToHex } from '@polkadot/util';
import type { Keypair } from '../keys/keypair';
import { ipToInt } from './axon-info';

/** The arguments of Subtensor's `serve_axon` call, as a miner means them. */
export interface ServeAxonArgs {
  netuid: number;
  version: number;
  /** Numeric IPv4 or IPv6 text. */
  ip: string;
  port: number;
  protocol: number;
}

/**
 * SCALE encoding of `serve_axon(netuid: u16, version: u32, ip: u128, port:
 * u16, ip_type: u8, protocol: u8, placeholder1: u8, placeholder2: u8)`'s
 * arguments: fixed-width little-endian integers, so a miner can check the
 * call it is asked to sign without the runtime's metadata.
 */
export function encodeServeAxonArgs(args: ServeAxonArgs): Uint8Array {
  const { ip, ipType } = ipToInt(args.ip);
  const out = new Uint8Array(2 + 4 + 16 + 2 + 1 + 1 + 1 + 1);
  const view = new DataView(out.buffer);
  view.setUint16(0, args.netuid, true);
  view.setUint32(2, args.version, true);
  view.setBigUint64(6, ip & 0xffff_ffff_ffff_ffffn, true);
  view.setBigUint64(14, ip >> 64n, true);
  view.setUint16(22, args.port, true);
  out[24] = ipType;
  out[25] = args.protocol;
  // placeholder1, placeholder2: 0.
  return out;
}

/** What the chain-indexer hands the owner of a hotkey to sign (`chain.sign.<hotkey>`). */
export interface OwnerSigningRequest {
  call: string;
  hotkey: string;
  /** SCALE call: 2-byte pallet/call index, then the arguments. */
  method: string;
  signingPayload: string;
  hashed: boolean;
  tip: string;
}

/**
 * Checks a signing request against the serve_axon call its owner wants and,
 * when it is that call, signs it: the request is for this hotkey, the call's
 * arguments are exactly `expected`'s, the bytes to sign begin with that call
 * (an extrinsic payload is the call, then the signed extensions), and no tip
 * is asked for. Returns the sr25519 signature (0x-hex, 64 bytes) or throws
 * with the reason for refusing.
 */
export function signServeAxonRequest(
  keypair: Keypair,
  request: OwnerSigningRequest,
  expected: ServeAxonArgs,
): string {
  if (request.hotkey !== keypair.ss58Address)
    throw new Error(`asked to sign for ${request.hotkey}, not for ${keypair.ss58Address}`);
  if (request.call !== 'serve_axon')
    throw new Error(`asked to sign ${request.call}; only serve_axon is signed here`);
  if (!isHex(request.method) || !isHex(request.signingPayload))
    throw new Error('method and signingPayload must be 0x-hex');
  if (request.hashed)
    throw new Error('a serve_axon payload is short enough to be signed as is: refusing a hashed one');
  const method = hexToU8a(request.method);
  const args = encodeServeAxonArgs(expected);
  if (method.length !== 2 + args.length || u8aToHex(method.subarray(2)) !== u8aToHex(args)) {
    throw new Error('the call to sign is not serve_axon with the requested axon');
  }
  const payload = hexToU8a(request.signingPayload);
  if (payload.length < method.length || u8aToHex(payload.subarray(0, method.length)) !== request.method) {
    throw new Error('the signing payload does not carry the call it names');
  }
  if (BigInt(request.tip) !== 0n) throw new Error(`a tip of ${request.tip} was asked for`);
  return keypair.sign(payload);
}
