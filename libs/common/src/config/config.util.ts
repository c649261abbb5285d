import { z } from 'zod';

/**
 * A configuration problem found at start. The message names every offending
 * environment variable so an operator can fix them all in one go.
 */
export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; problem: string }[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  ${i.variable}: ${i.problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type EnvSchema = z.ZodObject<Record<string, z.ZodType>>;

/**
 * Validates the environment against a schema whose keys are the variable names
 * and returns the parsed values. Unknown variables are ignored.
 */
export function parseEnv<S extends EnvSchema>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    // An empty variable is treated as unset, as shells and Helm often produce them.
    input[key] = value === undefined || value.trim() === '' ? undefined : value.trim();
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? '(environment)'),
        problem: issue.message,
      })),
    );
  }
  return result.data;
}

/** Reusable variable types with messages an operator understands. */
export const env = {
  url: (protocols: string[]) =>
    z.string().refine(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol.replace(/:$/, ''));
        } catch {
          return false;
        }
      },
      { message: `must be a URL with scheme ${protocols.join(' or ')}` },
    ),
  urlList: (protocols: string[]) =>
    z
      .string()
      .transform((value) =>
        value
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean),
      )
      .refine(
        (list) =>
          list.length > 0 &&
          list.every((value) => {
            try {
              return protocols.includes(new URL(value).protocol.replace(/:$/, ''));
            } catch {
              return false;
            }
          }),
        { message: `must be a comma-separated list of URLs with scheme ${protocols.join(' or ')}` },
      ),
  port: () => z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535),
  int: (min: number, max = Number.MAX_SAFE_INTEGER) =>
    z.coerce.number({ message: 'must be an integer' }).int().min(min).max(max),
  number: (min: number, max: number) => z.coerce.number({ message: 'must be a number' }).min(min).max(max),
  bool: () =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
      .transform((value) => value === 'true' || value === '1' || value === 'yes'),
  list: () =>
    z.string().transform((value) =>
      value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean),
    ),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/** Variables every service reads. */
export const baseEnvSchema = z.object({
  LOG_LEVEL: env.logLevel(),
  NATS_URL: env.urlList(['nats', 'tls', 'ws', 'wss']).default(['nats://127.0.0.1:4222']),
  /** NATS token authentication (the server's `authorization { token }`). */
  NATS_TOKEN: z.string().min(1).optional(),
  /** NATS NKey authentication: the user's seed (`SU...`); the server lists its public key. */
  NATS_NKEY_SEED: z
    .string()
    .regex(/^SU[A-Z2-7]{56}$/, { message: 'must be an NKey user seed (SU followed by 56 base32 characters)' })
    .optional(),
  CHAIN_MODE: z.enum(['local', 'subtensor'], { message: 'must be local or subtensor' }).default('local'),
  NETUID: env.int(0, 65535).default(1),
});

/** Credentials of the services that use Redis, kept out of REDIS_URL so that a Secret can hold them. */
export const redisAuthEnvSchema = z.object({
  /** The Redis password (AUTH). */
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** An ACL user name for REDIS_PASSWORD. */
  REDIS_USERNAME: z.string().min(1).optional(),
  /**
   * Redis Sentinel: the sentinels (comma-separated host:port) that name the
   * current primary; REDIS_URL's host is then not used (its scheme still
   * chooses TLS). The sentinels take REDIS_PASSWORD too.
   */
  REDIS_SENTINELS: env
    .list()
    .refine((list) => list.every((entry) => /^[^\s:]+:\d{1,5}$/.test(entry)), {
      message: 'must be comma-separated host:port entries',
    })
    .optional(),
  /** Redis Sentinel: the name the sentinels monitor the primary under. */
  REDIS_SENTINEL_MASTER: z.string().min(1).default('mymaster'),
});
