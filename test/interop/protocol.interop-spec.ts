import {
  BITTENSOR_SDK_VERSION,
  BITTENSOR_VERSION_AS_INT,
  Keypair,
  StreamPrompting,
  initCrypto,
  intToIp,
  ipToInt,
  isValidSs58,
  parsePyJson,
  pyJsonDumps,
  pyStr,
  epistulaHeaders,
  ss58FromPublicKey,
  verifyEpistula,
  synapseBodyHash,
  synapseBodyHashOfJson,
  verifySignature,
  versionAsInt,
} from '@chattensor/bittensor';
import { PythonOracle } from './support/python';
import { Rng, randomPyValue, randomString } from './support/random';

let py: PythonOracle;

beforeAll(async () => {
  await initCrypto();
  py = new PythonOracle();
});

afterAll(async () => {
  await py.close();
});

describe('the pinned SDK', () => {
  it('is the version this library claims to speak', async () => {
    const { version, version_as_int } = await py.call<{ version: string; version_as_int: number }>('version');
    expect(version).toBe(BITTENSOR_SDK_VERSION);
    expect(version_as_int).toBe(BITTENSOR_VERSION_AS_INT);
    expect(versionAsInt(version)).toBe(version_as_int);
  });
});

describe('keys and SS58 agree with the SDK', () => {
  it('derives the same addresses from dev URIs, derivation paths and mnemonics', async () => {
    const uris = ['//Alice', '//Bob', '//Alice//stash', '//chattensor/validator/1', Keypair.generate().exportSecrets().secretPhrase!];
    for (const uri of uris) {
      const theirs = await py.call<{ ss58: string; public_key: string }>('keypair', { uri });
      const ours = Keypair.fromUri(uri);
      expect(ours.ss58Address).toBe(theirs.ss58);
      expect(ours.publicKeyHex).toBe(theirs.public_key);
    }
  });

  it('encodes random public keys to the same SS58 addresses', async () => {
    const rng = new Rng(42);
    for (let i = 0; i < 50; i++) {
      const bytes = Uint8Array.from({ length: 32 }, () => rng.int(0, 255));
      const hex = `0x${Buffer.from(bytes).toString('hex')}`;
      const theirs = await py.call<string>('ss58_encode', { public_key: hex });
      expect(ss58FromPublicKey(bytes)).toBe(theirs);
      expect(isValidSs58(theirs)).toBe(true);
    }
  });

  it('verifies signatures made by the SDK and the SDK verifies ours, on fixed and random messages', async () => {
    const rng = new Rng(7);
    const messages = ['', 'hello', '1732550000000000000.5Grw.5FHn.uuid.abc', 'ünïcödé 🚀', ...Array.from({ length: 20 }, () => randomString(rng, 64).replace(/[\ud800-\udfff]/g, ''))];
    const uri = '//Alice';
    const alice = Keypair.fromUri(uri);
    for (const message of messages) {
      const theirSignature = await py.call<string>('sign', { uri, message });
      expect(verifySignature(message, theirSignature, alice.ss58Address)).toBe(true);
      expect(verifySignature(`${message}x`, theirSignature, alice.ss58Address)).toBe(false);
      const ourSignature = alice.sign(message);
      await expect(py.call('verify', { ss58: alice.ss58Address, message, signature: ourSignature })).resolves.toBe(true);
      await expect(py.call('verify', { ss58: Keypair.fromUri('//Bob').ss58Address, message, signature: ourSignature })).resolves.toBe(false);
    }
  });
});

describe('the body hash agrees with the SDK', () => {
  it('hashes StreamPrompting messages with quotes, escapes and unicode as Synapse.body_hash does', async () => {
    const cases = [
      { roles: [], messages: [] },
      { roles: ['user'], messages: ['hello'] },
      { roles: ['system', 'user'], messages: ["it's", 'say "hi"'] },
      { roles: ['user'], messages: ['both \' and " quotes \\ backslash\n\ttab\r'] },
      { roles: ['user'], messages: ['ünïcödé 中文 🚀 \u00a0 \u200b \u2028 \x7f \x01'] },
    ];
    for (const fields of cases) {
      const theirs = await py.call<string>('body_hash', { synapse: 'StreamPrompting', fields });
      expect(synapseBodyHash(StreamPrompting.requiredHashFields, fields)).toBe(theirs);
    }
  });

  it('prints and hashes 500 random model_dump values exactly as Python str() does', async () => {
    const rng = new Rng(20261125);
    for (let i = 0; i < 500; i++) {
      const value = rng.chance(0.5) ? [randomPyValue(rng)] : { k: randomPyValue(rng), [randomString(rng, 6)]: randomPyValue(rng) };
      const json = pyJsonDumps(value);
      const [theirStr, theirHash] = await Promise.all([py.call<string>('py_str', { json }), py.call<string>('body_hash', { payload_json: json })]);
      expect({ i, json, str: pyStr(parsePyJson(json)) }).toEqual({ i, json, str: theirStr });
      expect(synapseBodyHashOfJson(['payload'], `{"payload": ${json}}`)).toBe(theirHash);
    }
  });
});

describe('axon info encodings agree with the SDK', () => {
  it('maps IPv4 and IPv6 addresses to the chain integer and back', async () => {
    const rng = new Rng(99);
    const ips = ['0.0.0.0', '127.0.0.1', '255.255.255.255', '::1', '2001:db8::1', '::ffff:1.2.3.4', '1:0:0:1:0:0:0:1', 'fe80::1:0:0:0'];
    for (let i = 0; i < 40; i++) ips.push(rng.chance(0.5) ? [0, 0, 0, 0].map(() => rng.int(0, 255)).join('.') : Array.from({ length: 8 }, () => (rng.chance(0.4) ? 0 : rng.int(0, 0xffff)).toString(16)).join(':'));
    for (const ip of ips) {
      const theirs = await py.call<{ int: string; version: number; back: string }>('ip', { ip });
      const ours = ipToInt(ip);
      expect({ ip, int: ours.ip.toString(), version: ours.ipType, back: intToIp(ours.ip) }).toEqual({ ip, int: theirs.int, version: theirs.version, back: theirs.back });
    }
  });
});

describe('Epistula v2 agrees with the reference construction over the SDK keypair', () => {
  const body = JSON.stringify({ messages: [{ role: 'user', content: 'ünï 🚀' }] });
  const alice = () => Keypair.fromUri('//Alice');
  const bob = () => Keypair.fromUri('//Bob');

  it('produces headers the Python side verifies, interval signatures included', async () => {
    const headers = epistulaHeaders(alice(), body, { signedFor: bob().ss58Address });
    await expect(py.call('epistula_verify', { headers, body })).resolves.toEqual({ request: true, secrets: [true, true, true] });
  });

  it('verifies headers the Python side produced, and only for their body', async () => {
    const timestamp = Date.now();
    const headers = await py.call<Record<string, string>>('epistula_sign', { uri: '//Alice', body, timestamp, uuid: '0b7f3c2e-8a51-4c1e-9d7a-3f9e2b6c4d10', signed_for: bob().ss58Address });
    expect(verifyEpistula(headers, body, { receiver: bob().ss58Address })).toMatchObject({ signedBy: alice().ss58Address, timestampMs: timestamp });
    expect(() => verifyEpistula(headers, `${body} `, { receiver: bob().ss58Address })).toThrow(expect.objectContaining({ reason: 'bad_signature' }));
  });
});
