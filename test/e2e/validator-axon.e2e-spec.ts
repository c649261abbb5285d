/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { connect, createInbox, type NatsConnection } from 'nats';
import { Keypair, initCrypto } from '@chattensor/bittensor';
import { generateModel } from '@chattensor/inference';
import {
  AxonProtocol,
  Buckets,
  Subjects,
  chatFrameSchema,
  decodeJson,
  encodeJson,
  metagraphKey,
  type ChatFrame,
} from '@chattensor/protocol';
import { MinerModule } from '../../services/miner/src/app.module';
import { MinerAxonServer } from '../../services/miner/src/axon/miner-axon.server';
import { loadMinerConfig } from '../../services/miner/src/config/miner.config';
import { MinerIdentity } from '../../services/miner/src/identity/miner-identity';
import { ValidatorModule } from '../../services/validator/src/app.module';
import { loadValidatorConfig } from '../../services/validator/src/config/validator.config';
import { ValidatorIdentity } from '../../services/validator/src/identity/validator-identity';
import { provideInfra, type Infra } from '../support/infra';

/**
 * A validator whose metagraph lists a miner with an HTTP axon (protocol 4)
 * queries it in the protocol the axon version names: version 0 or 1 (what a
 * ChatTensor miner and the current SDK's serve_axon publish) is the OpenAI
 * chat API behind btauth/1; a version_as_int of 1,000,000 or more (10.5.0 is
 * 10005000) is a legacy SDK-10 axon, asked with the StreamPrompting synapse.
 */
describe.each([
  ['btauth/1 (the OpenAI chat API)', 0, 'false'],
  ['the legacy SDK-10 axon', 10_005_000, 'true'],
])('a validator querying a miner over %s', (_name, axonVersion, legacy) => {
  const netuid = 50_000 + Math.floor(Math.random() * 10_000);
  const dir = mkdtempSync(join(tmpdir(), 'validator-axon-'));
  let miner: INestApplicationContext;
  let validator: INestApplicationContext;
  let nc: NatsConnection;
  let infra: Infra;

  beforeAll(async () => {
    // A NATS of its own: another suite's validator must not take this suite's jobs.
    infra = await provideInfra({ ownNats: true });
    await initCrypto();
    await generateModel({ outDir: join(dir, 'model'), preset: 'tiny' });
    nc = await connect({ servers: infra.natsUrl });
    const validatorKey = Keypair.fromUri('//axon-path/validator');
    const minerConfig = loadMinerConfig({
      NATS_URL: infra.natsUrl,
      NETUID: String(netuid),
      MODEL_DIR: join(dir, 'model'),
      HOTKEY_URI: '//axon-path/miner',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      AXON_ENABLED: 'true',
      AXON_HOST: '127.0.0.1',
      AXON_PORT: '0',
      AXON_LEGACY_SDK10: legacy,
      MINER_ALLOWED_HOTKEYS: validatorKey.ss58Address,
      INTRA_OP_THREADS: '1',
    });
    const minerIdentity = await MinerIdentity.load(minerConfig.hotkey);
    miner = await NestFactory.createApplicationContext(MinerModule.forRoot(minerConfig, minerIdentity), {
      logger: false,
      abortOnError: false,
    });
    await miner.init();
    const axonPort = miner.get(MinerAxonServer).port;
    expect(axonPort).toBeGreaterThan(0);

    const kv = await nc.jetstream().views.kv(Buckets.metagraph, { history: 1 });
    await kv.put(
      metagraphKey(netuid),
      encodeJson({
        v: 1,
        netuid,
        mode: 'subtensor',
        block: 10,
        updatedAt: Date.now(),
        hyperparameters: {},
        neurons: [
          {
            uid: 7,
            hotkey: minerIdentity.hotkey.ss58Address,
            stake: 0,
            validatorPermit: false,
            active: true,
            axon: {
              ip: '127.0.0.1',
              port: axonPort,
              protocol: AxonProtocol.bittensorHttp,
              version: axonVersion,
            },
          },
        ],
      }),
    );
    const validatorConfig = loadValidatorConfig({
      NATS_URL: infra.natsUrl,
      REDIS_URL: process.env.REDIS_URL,
      NETUID: String(netuid),
      HOTKEY_URI: '//axon-path/validator',
      WEIGHTS_INTERVAL_SECONDS: '0',
    });
    validator = await NestFactory.createApplicationContext(
      ValidatorModule.forRoot(validatorConfig, await ValidatorIdentity.load(validatorConfig.hotkey)),
      { logger: false, abortOnError: false },
    );
    await validator.init();
    // Generating the model, loading it and warming it up take minutes, not seconds, on a busy 2-core machine.
  }, 300_000);

  afterAll(async () => {
    await validator?.close();
    await miner?.close();
    await nc?.drain();
    await infra?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('streams the miner answer back as delta frames and ends with the miner uid', async () => {
    const inbox = createInbox();
    const sub = nc.subscribe(inbox, { timeout: 150_000 });
    nc.publish(
      Subjects.chatCompletions,
      encodeJson({
        v: 1,
        jobId: `axon-job-${axonVersion}`,
        model: '*',
        messages: [{ role: 'user', content: 'hello over http' }],
        sampling: { maxTokens: 6, temperature: 0, stop: [], presencePenalty: 0, frequencyPenalty: 0 },
        n: 1,
        deadline: Date.now() + 150_000,
      }),
      { reply: inbox },
    );
    const frames: ChatFrame[] = [];
    for await (const message of sub) {
      const decoded = decodeJson(chatFrameSchema, message.data);
      if (!decoded.ok) continue;
      frames.push(decoded.value);
      if (decoded.value.type === 'end' || decoded.value.type === 'error') break;
    }
    sub.unsubscribe();
    expect(frames[0]).toMatchObject({ type: 'accepted' });
    const end = frames[frames.length - 1];
    expect(end).toMatchObject({ type: 'end', index: 0, miner: { uid: 7 } });
    const text = frames.flatMap((f) => (f.type === 'delta' ? [f.text] : [])).join('');
    expect(text.length).toBeGreaterThan(0);
    expect(end.type === 'end' && end.usage.completionTokens).toBeGreaterThan(0);
  }, 180_000);
});
