import type { ApiPromise } from '@polkadot/api';
import type { Signer, SignerResult } from '@polkadot/api/types';
import type { SignerPayloadJSON } from '@polkadot/types/types';
import { hexToU8a, u8aConcat, u8aToHex } from '@polkadot/util';
import { blake2AsU8a, decodeAddress, sr25519Verify } from '@polkadot/util-crypto';
import type { NatsConnection } from 'nats';
import {
  Subjects,
  decodeJson,
  encodeJson,
  signingResponseSchema,
  type SigningRequest,
} from '@chattensor/protocol';

/** The multi-signature type byte of sr25519 in `MultiSignature`. */
const SR25519 = new Uint8Array([1]);

/** Substrate signs the blake2-256 of a payload longer than this. */
const MAX_UNHASHED_PAYLOAD = 256;

/** Whether `hotkey` is an SS58 address (it becomes part of a NATS subject). */
export function isSs58(hotkey: string): boolean {
  try {
    return decodeAddress(hotkey).length === 32;
  } catch {
    return false;
  }
}

/**
 * The bytes an extrinsic's signer signs for `payload`, encoded by the
 * connection's registry (signed extensions included): the SCALE payload, or
 * its blake2-256 when longer than 256 bytes.
 */
export function signingBytes(
  api: ApiPromise,
  payload: SignerPayloadJSON,
): { bytes: Uint8Array; hashed: boolean } {
  const encoded = api.registry
    .createType('ExtrinsicPayload', payload, { version: payload.version })
    .toU8a({ method: true });
  return encoded.length > MAX_UNHASHED_PAYLOAD
    ? { bytes: blake2AsU8a(encoded), hashed: true }
    : { bytes: encoded, hashed: false };
}

/**
 * @polkadot/api's `Signer` for a hotkey the indexer does not hold: the payload
 * the API built (nonce, era, runtime, genesis) goes to the hotkey's owner on
 * `chain.sign.<hotkey>`, who checks the call and answers with a signature;
 * the signature is verified here before the extrinsic is sent, so a wrong
 * key or a tampered answer never reaches the pool.
 */
export class OwnerSigner implements Signer {
  constructor(
    private readonly api: ApiPromise,
    private readonly nc: NatsConnection,
    private readonly call: SigningRequest['call'],
    private readonly hotkey: string,
    private readonly timeoutMs: number,
  ) {}

  async signPayload(payload: SignerPayloadJSON): Promise<SignerResult> {
    if (payload.address !== this.hotkey)
      throw new Error(`payload for ${payload.address}, not ${this.hotkey}`);
    const { bytes, hashed } = signingBytes(this.api, payload);
    const request: SigningRequest = {
      v: 1,
      call: this.call,
      hotkey: this.hotkey,
      method: payload.method,
      signingPayload: u8aToHex(bytes),
      hashed,
      nonce: Number(BigInt(payload.nonce)),
      mortalPeriod:
        payload.era === '0x00'
          ? 0
          : this.api.registry.createType('ExtrinsicEra', payload.era).asMortalEra.period.toNumber(),
      tip: BigInt(payload.tip).toString(),
      genesisHash: payload.genesisHash,
      blockHash: payload.blockHash,
      specVersion: Number(BigInt(payload.specVersion)),
    };
    let reply;
    try {
      reply = await this.nc.request(Subjects.signer(this.hotkey), encodeJson(request), {
        timeout: this.timeoutMs,
      });
    } catch (error) {
      const text = (error as Error).message;
      throw new Error(
        /no responders|503/i.test(text)
          ? `nobody signs for ${this.hotkey} on ${Subjects.signer(this.hotkey)}: the hotkey's owner (its miner) must be running and connected to NATS`
          : `the owner of ${this.hotkey} did not sign: ${text}`,
      );
    }
    const decoded = decodeJson(signingResponseSchema, reply.data);
    if (!decoded.ok)
      throw new Error(`invalid signing answer from the owner of ${this.hotkey}: ${decoded.error}`);
    if ('error' in decoded.value)
      throw new Error(`the owner of ${this.hotkey} refused to sign: ${decoded.value.error}`);
    const signature = hexToU8a(decoded.value.signature);
    if (!sr25519Verify(bytes, signature, decodeAddress(this.hotkey))) {
      throw new Error(`the signature from the owner of ${this.hotkey} does not verify against its hotkey`);
    }
    return { id: 1, signature: u8aToHex(u8aConcat(SR25519, signature)) };
  }
}
