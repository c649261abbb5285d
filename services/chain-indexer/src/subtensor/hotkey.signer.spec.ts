import { u8aToHex } from '@polkadot/util';
import { CRYPTO_ED25519, CRYPTO_SR25519, Keypair, initCrypto, verifySignature } from '@chattensor/bittensor';
import { signingPairOf } from './hotkey.signer';

describe('signingPairOf', () => {
  beforeAll(() => initCrypto());

  it.each([
    ['sr25519', CRYPTO_SR25519, 1],
    ['ed25519', CRYPTO_ED25519, 0],
  ] as const)('tags an %s hotkey’s extrinsic signature with its MultiSignature variant', (_name, cryptoType, variant) => {
    const key = Keypair.fromUri('//signer//hotkey', cryptoType);
    const payload = new TextEncoder().encode('extrinsic payload');
    const typed = signingPairOf(key).sign(payload, { withType: true });
    expect(typed[0]).toBe(variant);
    expect(verifySignature(payload, u8aToHex(typed.subarray(1)), key.ss58Address, cryptoType)).toBe(true);
  });
});
