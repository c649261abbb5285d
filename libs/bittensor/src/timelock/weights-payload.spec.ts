import { WeightsPayloadError, decodeWeightsTlockPayload, encodeWeightsTlockPayload } from './weights-payload';

const HOTKEY = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

describe('WeightsTlockPayload', () => {
  it('encodes the legacy form as Vec<u16> uids, Vec<u16> values, u64 version_key', () => {
    const bytes = encodeWeightsTlockPayload(
      { uids: [1, 258], values: [65535, 0], versionKey: 2_004_000 },
      'legacy',
    );
    expect(Buffer.from(bytes).toString('hex')).toBe(
      '08' + '0100' + '0201' + '08' + 'ffff' + '0000' + '20941e0000000000',
    );
  });

  it('puts the hotkey first, as a Vec<u8> holding the 32-byte account id', () => {
    const bytes = encodeWeightsTlockPayload(
      { hotkey: HOTKEY, uids: [7], values: [9], versionKey: 1n },
      'with-hotkey',
    );
    expect(Buffer.from(bytes).toString('hex')).toBe(
      '80' + Buffer.from(HOTKEY).toString('hex') + '04' + '0700' + '04' + '0900' + '0100000000000000',
    );
    expect(decodeWeightsTlockPayload(bytes, 'with-hotkey')).toEqual({
      hotkey: HOTKEY,
      uids: [7],
      values: [9],
      versionKey: 1n,
    });
  });

  it('accepts an SS58 hotkey', () => {
    const ss58 = '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY';
    const bytes = encodeWeightsTlockPayload(
      { hotkey: ss58, uids: [], values: [], versionKey: 0 },
      'with-hotkey',
    );
    expect(Buffer.from(bytes.subarray(1, 33)).toString('hex')).toBe(
      'd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d',
    );
  });

  it('uses a multi-byte compact length for long vectors', () => {
    const uids = Array.from({ length: 300 }, (_, i) => i);
    const bytes = encodeWeightsTlockPayload({ uids, values: uids, versionKey: 0 }, 'legacy');
    expect(Buffer.from(bytes.subarray(0, 2)).toString('hex')).toBe('b104');
    expect(decodeWeightsTlockPayload(bytes, 'legacy').values).toEqual(uids);
  });

  it('refuses values that are not u16, mismatched lengths and a missing hotkey', () => {
    expect(() => encodeWeightsTlockPayload({ uids: [65536], values: [1], versionKey: 0 }, 'legacy')).toThrow(
      WeightsPayloadError,
    );
    expect(() => encodeWeightsTlockPayload({ uids: [1, 2], values: [1], versionKey: 0 }, 'legacy')).toThrow(
      WeightsPayloadError,
    );
    expect(() => encodeWeightsTlockPayload({ uids: [1], values: [1], versionKey: 0 }, 'with-hotkey')).toThrow(
      WeightsPayloadError,
    );
  });
});
