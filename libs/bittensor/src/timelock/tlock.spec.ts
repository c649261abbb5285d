import { convertWeightsAndUidsForEmit } from '../weights/weight-utils';
import { initCrypto, Keypair } from '../keys/keypair';
import { quicknetRoundAt, roundMessage, verifyRoundSignature } from './quicknet';
import {
  TimelockError,
  deserializeTimelockCiphertext,
  serializeTimelockCiphertext,
  timelockDecryptBytes,
  timelockEncrypt,
  timelockEncryptToBytes,
} from './tlock';
import { decodeWeightsTlockPayload, encodeWeightsTlockPayload } from './weights-payload';

/** Real quicknet pulses, as Subtensor's drand and commitments pallet tests use them. */
const ROUND_1000 =
  'b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39';
const ROUND_2000 =
  'b6cb8f482a0b15d45936a4c4ea08e98a087e71787caee3f4d07a8a9843b1bc5423c6b3c22f446488b3137eaca799c77e';

/** Made by bittensor-drand 2.0.0 (Rust `tle`): encrypt_at_round(b"quicknet round 2000", 2000), envelope removed. */
const RUST_CIPHERTEXT_2000 =
  '81c2754e5d5f067f4d15f3ce37d7edff9e888bdb2bc3b2205bbb6e5536bf4e0af09686aa412c4ec695859ea45ce3e175027eb97596ff5a853b0148a745025be7aaef44de4fce496f0ff837d923b169bfc96c93c2c8572d1c4d222c1c8e8526b9200000000000000029f5b8cf107fb0b260204b21a37d72766a6a7cbf8f564f6f944277d3ff1773372000000000000000b4c816d86cbc41648cdf81066136ced5cc34e8fe1c4f0670321e0f08a83568033f000000000000002300000000000000ab5e3b10be639bed6b388b80a2cd53fe471d3bb91f74ad003a3c276d02ef0167f45cb80c00000000000000590d911a8d936f3103aca77a08000000000000004145535f47434d5f';

/**
 * Made by the Python SDK's commit_timelocked_weights_extrinsic (bittensor 10.5.0) for hotkey //Alice,
 * uids [0, 1, 5], weights [0.2, 0.5, 0.3], version_key 1001, locked to round 1000.
 */
const SDK_COMMIT_1000 =
  '9147baac21afe62510d339cd58ede35593fa6c316bad36e004629c390d52f93be85cad786360c76343dc54de4ffa8a7c0e0906d06e282196cf94ed425bc0924686b11f2b5e9a56f84930683fc1d3787349946ccbe1697d567a0d34db7ce1aaac200000000000000037202edcb54ed553aadc5081db4f5eb21c6408a24ca4a3d86e84e29b93b8432220000000000000001711e0e536b6cb50f87a71948cc460a0f9a825322169bd83b30c20badf3dfc1663000000000000004700000000000000997e94a1668a495aae225f88e79b1499e5f1146c687589e09073d663d7754cd237715ba243048b9de5fdbfd80f69d4b25b62c76b1dc680f933be917c298e9abc16d1312c1a1d3c0c000000000000006c1d4deb9f2ebad37355c04108000000000000004145535f47434d5f';

describe('quicknet', () => {
  it('accepts the real signatures of rounds 1000 and 2000 and rejects them for other rounds', () => {
    expect(verifyRoundSignature(1000, ROUND_1000)).toBe(true);
    expect(verifyRoundSignature(2000, ROUND_2000)).toBe(true);
    expect(verifyRoundSignature(1001, ROUND_1000)).toBe(false);
    expect(verifyRoundSignature(2000, ROUND_1000)).toBe(false);
  });

  it('signs sha256 of the round as a big-endian u64', () => {
    expect(roundMessage(1).toString('hex')).toBe(
      'cd2662154e6d76b2b2b92e70c0cac3ccf534f9b74eb5b89819ec509083d00a50',
    );
  });

  it('counts rounds from genesis every 3 seconds', () => {
    expect(quicknetRoundAt(1_692_803_366)).toBe(0);
    expect(quicknetRoundAt(1_692_803_367)).toBe(1);
    expect(quicknetRoundAt(1_692_803_367 + 2999 * 3 + 2.9)).toBe(3000);
  });
});

describe('timelock encryption', () => {
  it('opens what the Rust implementation encrypted with the round signature', () => {
    expect(timelockDecryptBytes(RUST_CIPHERTEXT_2000, ROUND_2000).toString()).toBe('quicknet round 2000');
  });

  it('refuses to open a ciphertext with another round’s signature', () => {
    expect(() => timelockDecryptBytes(RUST_CIPHERTEXT_2000, ROUND_1000)).toThrow(TimelockError);
  });

  it('round-trips messages of any length through the serialized form', () => {
    for (const length of [0, 1, 32, 33, 1000]) {
      const message = Buffer.alloc(length, length % 251);
      const bytes = timelockEncryptToBytes(message, 1000);
      // u (96) + v, w (8 + 32 each) + body (8 + 8 + message + tag 16 + 8 + nonce 12) + suite (8 + 8)
      expect(bytes.length).toBe(96 + 40 + 40 + 8 + 8 + length + 16 + 8 + 12 + 16);
      expect(timelockDecryptBytes(bytes, ROUND_1000).equals(message)).toBe(true);
    }
  });

  it('is deterministic given its random inputs and re-serializes to the same bytes', () => {
    const randomness = { key: Buffer.alloc(32, 2), t: 123456789n, nonce: Buffer.alloc(12, 9) };
    const a = timelockEncryptToBytes(Buffer.from('same'), 2000, randomness);
    const b = timelockEncryptToBytes(Buffer.from('same'), 2000, randomness);
    expect(a.equals(b)).toBe(true);
    expect(serializeTimelockCiphertext(deserializeTimelockCiphertext(a)).equals(a)).toBe(true);
  });

  it('detects a tampered body or header', () => {
    const ct = timelockEncrypt(Buffer.from('weights'), 1000);
    const body = Buffer.from(ct.ciphertext);
    body[0] ^= 1;
    expect(() =>
      timelockDecryptBytes(serializeTimelockCiphertext({ ...ct, ciphertext: body }), ROUND_1000),
    ).toThrow(TimelockError);
    const w = Buffer.from(ct.w);
    w[5] ^= 1;
    expect(() => timelockDecryptBytes(serializeTimelockCiphertext({ ...ct, w }), ROUND_1000)).toThrow(
      TimelockError,
    );
  });

  it('rejects truncated and padded ciphertexts', () => {
    const bytes = timelockEncryptToBytes(Buffer.from('x'), 1000);
    expect(() => deserializeTimelockCiphertext(bytes.subarray(0, bytes.length - 1))).toThrow(TimelockError);
    expect(() => deserializeTimelockCiphertext(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(
      TimelockError,
    );
  });
});

describe('the Python SDK’s timelocked commit', () => {
  beforeAll(async () => {
    await initCrypto();
  });

  it('opens to exactly the payload this library encodes for the same weights', () => {
    const emitted = convertWeightsAndUidsForEmit([0, 1, 5], [0.2, 0.5, 0.3]);
    const expected = encodeWeightsTlockPayload(
      {
        hotkey: Keypair.fromUri('//Alice').publicKey,
        uids: emitted.uids,
        values: emitted.weights,
        versionKey: 1001,
      },
      'with-hotkey',
    );
    const plaintext = timelockDecryptBytes(SDK_COMMIT_1000, ROUND_1000);
    expect(plaintext.toString('hex')).toBe(Buffer.from(expected).toString('hex'));
    expect(decodeWeightsTlockPayload(plaintext, 'with-hotkey')).toMatchObject({
      uids: [0, 1, 5],
      versionKey: 1001n,
    });
  });
});
