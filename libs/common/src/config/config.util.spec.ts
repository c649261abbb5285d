import { z } from 'zod';
import { ConfigError, baseEnvSchema, env, parseEnv } from './config.util';

describe('parseEnv', () => {
  const schema = baseEnvSchema.extend({ PORT: env.port().default(80), FLAG: env.bool().default(false), LIST: env.list().default([]) });

  it('applies defaults and treats empty variables as unset', () => {
    const parsed = parseEnv(schema, { PORT: '', FLAG: '  ' });
    expect(parsed).toMatchObject({ PORT: 80, FLAG: false, CHAIN_MODE: 'local', NETUID: 1, NATS_URL: ['nats://127.0.0.1:4222'] });
  });

  it('coerces numbers, booleans, lists and URL lists', () => {
    const parsed = parseEnv(schema, { PORT: '8080', FLAG: 'yes', LIST: 'a, b,,c', NATS_URL: 'nats://a:1, tls://b:2' });
    expect(parsed).toMatchObject({ PORT: 8080, FLAG: true, LIST: ['a', 'b', 'c'], NATS_URL: ['nats://a:1', 'tls://b:2'] });
  });

  it('reports every bad variable by name in one error', () => {
    expect.assertions(3);
    try {
      parseEnv(schema, { PORT: '99999', FLAG: 'maybe', NATS_URL: 'redis://x' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.variable).sort()).toEqual(['FLAG', 'NATS_URL', 'PORT']);
      expect((error as ConfigError).message).toMatch(/NATS_URL: must be a comma-separated list of URLs/);
    }
  });

  it('ignores variables the schema does not name', () => {
    expect(parseEnv(z.object({ A: z.string().default('x') }), { B: 'y' })).toEqual({ A: 'x' });
  });
});
