import { u8aConcat, u8aToHex } from '@polkadot/util';
import { initCrypto, Keypair, verifySignature } from '../index';
import { encodeServeAxonArgs, signServeAxonRequest, type ServeAxonArgs } from './owner-signing';

describe('signing a serve_axon the chain-indexer built', () => {
  const axon: ServeAxonArgs = { netuid: 2, version: 0, ip: '2001:db8::7', port: 8091, protocol: 4 };
  let miner: Keypair;
  // A call index (any pallet/call pair) followed by the arguments, then extension bytes.
  const method = () => u8aToHex(u8aConcat(new Uint8Array([7, 4]), encodeServeAxonArgs(axon)));
  const request = (overrides: Partial<Parameters<typeof signServeAxonRequest>[1]> = {}) => ({
    call: 'serve_axon',
    hotkey: miner.ss58Address,
    method: method(),
    signingPayload: `${method()}00000000a1b2`,
    hashed: false,
    tip: '0',
    ...overrides,
  });

  beforeAll(async () => {
    await initCrypto();
    miner = Keypair.fromUri('//owner-signing/unit');
  });

  it('encodes the arguments as the runtime does: fixed-width little endian, IPv6 as u128', () => {
    const bytes = encodeServeAxonArgs({
      netuid: 0x0102,
      version: 3,
      ip: '10.0.0.1',
      port: 8091,
      protocol: 4,
    });
    expect(u8aToHex(bytes)).toBe(
      `0x0201` + `03000000` + `0100000a000000000000000000000000` + `9b1f` + `04` + `04` + `00` + `00`,
    );
    expect(encodeServeAxonArgs(axon)[24]).toBe(6);
  });

  it('signs exactly the payload for its own axon', () => {
    const signature = signServeAxonRequest(miner, request(), axon);
    expect(
      verifySignature(Buffer.from(request().signingPayload.slice(2), 'hex'), signature, miner.ss58Address),
    ).toBe(true);
  });

  it('refuses another hotkey, another call, another axon, a payload without the call, a hashed payload and a tip', () => {
    const refusals: [Parameters<typeof signServeAxonRequest>[1], RegExp][] = [
      [request({ hotkey: Keypair.fromUri('//someone').ss58Address }), /asked to sign for/],
      [request({ call: 'set_weights' }), /only serve_axon/],
      [
        request({
          method: u8aToHex(u8aConcat(new Uint8Array([7, 4]), encodeServeAxonArgs({ ...axon, port: 1 }))),
        }),
        /not serve_axon with the requested axon/,
      ],
      [request({ signingPayload: '0x0001' }), /does not carry the call/],
      [request({ hashed: true }), /hashed/],
      [request({ tip: '1000' }), /tip/],
    ];
    for (const [bad, reason] of refusals)
      expect(() => signServeAxonRequest(miner, bad, axon)).toThrow(reason);
  });
});
