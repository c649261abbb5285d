/**
 * A cheating miner as a program of its own, for demos and end-to-end tests of
 * answer verification: `CHEATERS=random npm start` runs one beside the honest
 * miners. It is not the miner service (nothing in services/miner can turn
 * cheating on): it wraps the same inference engine, corrupts its answers as
 * CHEAT says (see cheating-miner.ts), serves them over the miner's gRPC
 * contract and announces itself like a standalone miner. It runs in
 * standalone mode only and does not check who calls it.
 *
 * Variables: CHEAT (random, other-model, text-mismatch, cut-short, replay),
 * MODEL_DIR (the served model), CHEAT_MODEL_DIR (other-model: where the
 * cheaper model is generated, once), HOTKEY_URI, NATS_URL, NETUID,
 * GRPC_HOST, GRPC_PORT, ANNOUNCE_HOST, ANNOUNCE_INTERVAL_MS, HTTP_HOST,
 * HTTP_PORT (/healthz and /readyz), INTRA_OP_THREADS, LOG_LEVEL.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { z } from 'zod';
import { connect } from 'nats';
import { Keypair, initCrypto } from '@chattensor/bittensor';
import { ConfigError, baseEnvSchema, createRootLogger, env, parseEnv } from '@chattensor/common';
import { InferenceEngine, Tokenizer } from '@chattensor/inference';
import { cheaperModelLike } from './cheaper-model';
import { CHEAT_KINDS, CheatingMiner } from './cheating-miner';

const cheaterEnvSchema = baseEnvSchema.extend({
  CHEAT: z.enum(CHEAT_KINDS, { message: `must be one of ${CHEAT_KINDS.join(', ')}` }),
  MODEL_DIR: z.string({ message: 'is required: the model the honest miners serve' }),
  CHEAT_MODEL_DIR: z.string().optional(),
  HOTKEY_URI: z.string({ message: 'is required: the cheater announces itself with this hotkey' }),
  GRPC_HOST: z.string().default('127.0.0.1'),
  GRPC_PORT: env.port().default(0),
  ANNOUNCE_HOST: z.string().default('127.0.0.1'),
  ANNOUNCE_INTERVAL_MS: env.int(100, 3_600_000).default(2000),
  HTTP_HOST: z.string().default('127.0.0.1'),
  HTTP_PORT: env.port().default(0),
  INTRA_OP_THREADS: env.int(0, 256).default(1),
});

async function main(): Promise<void> {
  const e = parseEnv(cheaterEnvSchema);
  if (e.CHAIN_MODE !== 'local')
    throw new ConfigError([
      { variable: 'CHAIN_MODE', problem: 'must be local: the cheating miner is a demo of standalone mode' },
    ]);
  const log = createRootLogger(`cheater-${e.CHEAT}`);
  await initCrypto();
  const keypair = Keypair.fromUri(e.HOTKEY_URI);
  const served = await InferenceEngine.load(e.MODEL_DIR, {
    intraOpThreads: e.INTRA_OP_THREADS,
    maxBatchSize: 4,
  });
  const tokenizer = Tokenizer.fromJson(readFileSync(join(e.MODEL_DIR, 'tokenizer.json'), 'utf8'));
  let engine = served;
  if (e.CHEAT === 'other-model') {
    const dir = await cheaperModelLike(
      e.MODEL_DIR,
      e.CHEAT_MODEL_DIR ?? join(e.MODEL_DIR, '..', 'cheaper-model'),
    );
    engine = await InferenceEngine.load(dir, { intraOpThreads: e.INTRA_OP_THREADS, maxBatchSize: 4 });
  }
  const nc = await connect({ servers: e.NATS_URL, token: e.NATS_TOKEN, name: `cheater-${e.CHEAT}` });
  const miner = new CheatingMiner(e.CHEAT, keypair, engine, tokenizer, served.modelName);
  await miner.start(nc, e.NETUID, {
    host: e.GRPC_HOST,
    port: e.GRPC_PORT,
    announceHost: e.ANNOUNCE_HOST,
    intervalMs: e.ANNOUNCE_INTERVAL_MS,
  });

  let stopping = false;
  const http = createServer((request, response) => {
    const path = request.url?.split('?')[0];
    if (path === '/healthz' || path === '/readyz') {
      const ok = path === '/healthz' || (!stopping && !nc.isClosed());
      response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', cheat: e.CHEAT }));
      return;
    }
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ error: { code: 'not_found', message: 'only /healthz and /readyz' } }));
  });
  await new Promise<void>((resolve) => http.listen(e.HTTP_PORT, e.HTTP_HOST, resolve));
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : e.HTTP_PORT;
  log.warn(
    { hotkey: keypair.ss58Address, cheat: e.CHEAT, grpcPort: miner.port },
    `CHEATING miner (${e.CHEAT}) serving ${served.modelName}: for demos of answer verification only`,
  );
  log.info({ host: e.HTTP_HOST, port }, `cheater-${e.CHEAT} listening`);

  const stop = () => {
    if (stopping) return;
    stopping = true;
    http.close();
    miner
      .stop()
      .then(() => nc.drain())
      .then(() => Promise.all([served.close(), engine === served ? undefined : engine.close()]))
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', service: 'cheating-miner', msg: error instanceof Error ? error.message : String(error) })}\n`,
  );
  process.exit(error instanceof ConfigError ? 78 : 1);
});
