import type { z } from 'zod';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** Parses and validates a message body; consumers never trust a body unvalidated. */
export function decodeJson<S extends z.ZodType>(schema: S, data: Uint8Array): Decoded<z.infer<S>> {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, error: 'body is not valid JSON' };
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    return {
      ok: false,
      error: result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '),
    };
  }
  return { ok: true, value: result.data };
}
