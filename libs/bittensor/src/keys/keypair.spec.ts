import { inspect } from 'node:util';
import { Keypair, initCrypto, isValidSs58, verifySignature } from './keypair';

beforeAll(async () => {
  await initCrypto();
});

describe('Keypair', () => {
  it('derives the well-known dev accounts with SS58 prefix 42', () => {
    expect(Keypair.fromUri('//Alice').ss58Address).toBe('5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY');
    expect(Keypair.fromUri('//Bob').ss58Address).toBe('5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty');
  });

  it('gives the same key from a mnemonic, its URI and its seed', () => {
    const generated = Keypair.generate();
    const { secretPhrase, secretSeed } = generated.exportSecrets();
    expect(Keypair.fromMnemonic(`  ${secretPhrase!}  `).ss58Address).toBe(generated.ss58Address);
    expect(Keypair.fromSeed(secretSeed!).ss58Address).toBe(generated.ss58Address);
  });

  it('restores a key from the SDK keyfile privateKey form and signs as it', () => {
    const alice = Keypair.fromUri('//Alice');
    const { privateKey } = alice.exportSecrets();
    const restored = Keypair.fromPrivateKey(privateKey, alice.publicKeyHex);
    expect(verifySignature('m', restored.sign('m'), alice.ss58Address)).toBe(true);
    expect(() => Keypair.fromPrivateKey(privateKey, Keypair.fromUri('//Bob').publicKeyHex)).toThrow(/does not belong/);
  });

  it('never shows its secret in string, JSON or inspected form', () => {
    const key = Keypair.generate();
    const { secretPhrase, secretSeed, privateKey } = key.exportSecrets();
    for (const shown of [String(key), JSON.stringify(key), inspect(key, { showHidden: true, depth: 5 }), JSON.stringify({ nested: key })]) {
      expect(shown).toContain(key.ss58Address);
      for (const secret of [secretPhrase!, secretSeed!.slice(2), privateKey.slice(2, 40)]) expect(shown).not.toContain(secret);
    }
  });

  it('rejects a malformed secret URI or seed', () => {
    expect(() => Keypair.fromUri('not a mnemonic at all')).toThrow(/mnemonic/);
    expect(() => Keypair.fromSeed('0x1234')).toThrow(/32 bytes/);
  });
});

describe('verifySignature', () => {
  it('accepts the signer, refuses anyone else and never throws on junk', () => {
    const alice = Keypair.fromUri('//Alice');
    const signature = alice.sign('message');
    expect(verifySignature('message', signature, alice.ss58Address)).toBe(true);
    expect(verifySignature('message', signature, Keypair.fromUri('//Bob').ss58Address)).toBe(false);
    expect(verifySignature('message', '0xzz', alice.ss58Address)).toBe(false);
    expect(verifySignature('message', signature, 'not-an-address')).toBe(false);
  });

  it('accepts a wallet-extension signature over <Bytes>message</Bytes>, as the SDK does', () => {
    const alice = Keypair.fromUri('//Alice');
    expect(verifySignature('hi', alice.sign('<Bytes>hi</Bytes>'), alice.ss58Address)).toBe(true);
  });
});

describe('isValidSs58', () => {
  it('accepts generic-prefix addresses only', () => {
    expect(isValidSs58('5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY')).toBe(true);
    expect(isValidSs58('15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5')).toBe(false);
    expect(isValidSs58('5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ')).toBe(false);
  });
});
