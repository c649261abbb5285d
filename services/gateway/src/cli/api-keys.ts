/**
 * Admin command for API keys, straight against the gateway's Redis (the same
 * store the gateway reads, so no gateway needs to be running):
 *
 *   node dist/services/gateway/src/cli/api-keys.js create <name> [--rpm N] [--tpm N]
 *   node dist/services/gateway/src/cli/api-keys.js list
 *   node dist/services/gateway/src/cli/api-keys.js revoke <key id>
 *
 * REDIS_URL and the KEY_*_PER_MINUTE defaults are read as the gateway reads them.
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { AppError, ConfigError } from '@chattensor/common';
import { loadGatewayConfig } from '../config/gateway.config';
import { ApiKeyStore } from '../auth/api-key.store';

const USAGE = `usage: api-keys create <name> [--rpm <requests per minute>] [--tpm <tokens per minute>]
       api-keys list
       api-keys revoke <key id>`;

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer`);
  return n;
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { rpm: { type: 'string' }, tpm: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const [command, argument] = positionals;
  const config = loadGatewayConfig();
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const store = new ApiKeyStore(redis);
  const print = (human: string, data: unknown) =>
    process.stdout.write(`${values.json ? JSON.stringify(data) : human}\n`);
  try {
    switch (command) {
      case 'create': {
        if (!argument) throw new UsageError('create needs a name');
        const { key, record } = await store.create(argument, {
          requestsPerMinute:
            positiveInt(values.rpm, '--rpm') ?? config.access.keyDefaultLimits.requestsPerMinute,
          tokensPerMinute: positiveInt(values.tpm, '--tpm') ?? config.access.keyDefaultLimits.tokensPerMinute,
        });
        print(
          `created ${record.id} (${record.name}): ${record.requestsPerMinute} requests/min, ${record.tokensPerMinute} tokens/min\n` +
            `key (shown once, store it now): ${key}`,
          { ...record, key },
        );
        break;
      }
      case 'list': {
        const records = await store.list();
        print(
          records.length === 0
            ? 'no keys'
            : records
                .map(
                  (r) =>
                    `${r.id}  ${r.hint}  ${r.name}  ${r.requestsPerMinute} rpm  ${r.tokensPerMinute} tpm  created ${new Date(r.createdAt).toISOString()}`,
                )
                .join('\n'),
          records,
        );
        break;
      }
      case 'revoke': {
        if (!argument) throw new UsageError('revoke needs a key id');
        await store.revoke(argument);
        print(`revoked ${argument}`, { id: argument, deleted: true });
        break;
      }
      default:
        throw new UsageError(command ? `unknown command ${command}` : 'a command is required');
    }
  } finally {
    redis.disconnect();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) process.stderr.write(`${error.message}\n${USAGE}\n`);
  else if (error instanceof ConfigError || error instanceof AppError)
    process.stderr.write(`${error.message}\n`);
  else process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = error instanceof UsageError ? 64 : 1;
});
