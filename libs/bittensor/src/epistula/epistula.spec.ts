import { Keypair, initCrypto, verifySignature } from '../keys/keypair';
import { EPISTULA_HEADER, epistulaHeaders, verifyEpistula } from './epistula';

const lower = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));

describe('Epistula v2', () => {
  const now = 1_764_000_000_000;
  let sender: Keypair;
  let receiver: Keypair;

  beforeAll(async () => {
    await initCrypto();
    sender = Keypair.fromUri('//Alice');
    receiver = Keypair.fromUri('//Bob');
  });

  it('signs a body that the receiver verifies, as lower-cased Node headers too', () => {
    const body = JSON.stringify({ prompt: 'hi' });
    const headers = epistulaHeaders(sender, body, { signedFor: receiver.ss58Address, nowMs: now });
    expect(headers[EPISTULA_HEADER.version]).toBe('2');
    expect(verifyEpistula(lower(headers), body, { receiver: receiver.ss58Address, nowMs: now + 1000 })).toMatchObject({ signedBy: sender.ss58Address, timestampMs: now });
  });

  it('signs the surrounding 10-second intervals written as Python floats', () => {
    const headers = epistulaHeaders(sender, '', { signedFor: receiver.ss58Address, nowMs: now + 1 });
    const interval = Math.ceil((now + 1) / 1e4) * 1e4;
    const expected = [interval - 1, interval, interval + 1].map((t) => `${t}.0.${receiver.ss58Address}`);
    expected.forEach((message, i) => {
      expect(verifySignature(message, headers[EPISTULA_HEADER.secretSignature(i as 0 | 1 | 2)], sender.ss58Address)).toBe(true);
    });
  });

  it('refuses a changed body, a stale or future timestamp, and another receiver', () => {
    const headers = lower(epistulaHeaders(sender, 'body', { signedFor: receiver.ss58Address, nowMs: now }));
    expect(() => verifyEpistula(headers, 'bodY', { nowMs: now })).toThrow(expect.objectContaining({ reason: 'bad_signature' }));
    expect(() => verifyEpistula(headers, 'body', { nowMs: now + 8001 })).toThrow(expect.objectContaining({ reason: 'stale' }));
    expect(() => verifyEpistula(headers, 'body', { nowMs: now - 8001 })).toThrow(expect.objectContaining({ reason: 'from_future' }));
    expect(() => verifyEpistula(headers, 'body', { nowMs: now, receiver: sender.ss58Address })).toThrow(expect.objectContaining({ reason: 'wrong_receiver' }));
    expect(() => verifyEpistula({}, 'body', { nowMs: now })).toThrow(expect.objectContaining({ reason: 'missing_header' }));
  });
});
