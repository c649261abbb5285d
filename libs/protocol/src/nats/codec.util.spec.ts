import { chatFrameSchema } from './chat.schema';
import { decodeJson, encodeJson } from './codec.util';

describe('decodeJson', () => {
  it('returns the validated value of a good message', () => {
    const frame = { type: 'delta', index: 0, text: 'hi', tokens: 1, miner: { uid: 3, hotkey: 'hk' } };
    expect(decodeJson(chatFrameSchema, encodeJson(frame))).toEqual({ ok: true, value: frame });
  });

  it('refuses invalid JSON', () => {
    expect(decodeJson(chatFrameSchema, new TextEncoder().encode('{nope'))).toEqual({ ok: false, error: 'body is not valid JSON' });
  });

  it('names the offending field of a message that does not match its schema', () => {
    const result = decodeJson(chatFrameSchema, encodeJson({ type: 'delta', index: -1, text: 'x', tokens: 1, miner: { uid: 0, hotkey: 'h' } }));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatch(/^index:/);
  });
});
