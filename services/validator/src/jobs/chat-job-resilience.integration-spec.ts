/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { connect, createInbox, type NatsConnection } from 'nats';
import { Keypair, initCrypto } from '@chattensor/bittensor';
import { metricsRegistry } from '@chattensor/common';
import { generateModel } from '@chattensor/inference';
import {
  Buckets,
  Subjects,
  chatFrameSchema,
  decodeJson,
  encodeJson,
  metagraphKey,
  validatorScoresSchema,
  type ChatFrame,
  type ChatJob,
  type Neuron,
} from '@chattensor/protocol';
import { MinerModule } from '../../../miner/src/app.module';
import { loadMinerConfig } from '../../../miner/src/config/miner.config';
import { MinerGrpcServer } from '../../../miner/src/grpc/miner-grpc.server';
import { MinerIdentity } from '../../../miner/src/identity/miner-identity';
import { freePort, provideInfra, type Infra } from '../../../../test/support/infra';
import { expectEventually } from '../../../../test/support/expect-eventually';
import { ValidatorModule } from '../app.module';
import { loadValidatorConfig } from '../config/validator.config';
import { ValidatorIdentity } from '../identity/validator-identity';

/**
 * The validator against real miners (gRPC, onnxruntime, a generated model)
 * and one registered miner that is gone: invalid requests end at once and
 * are not tried elsewhere, answers fail over past the dead miner, and jobs
 * beyond the running slots wait in the admission queue.
 */
describe('the validator under failures and load', () => {
  let infra: Infra;
  const netuid = 40_000 + Math.floor(Math.random() * 10_000);
  const dir = mkdtempSync(join(tmpdir(), 'validator-resilience-'));
  const validatorKey = Keypair.fromUri('//resilience/validator');
  const miners: INestApplicationContext[] = [];
  let validator: INestApplicationContext;
  let nc: NatsConnection;
  /** A miner that hangs: it takes connections and never says a word. */
  let hung: Server;
  const hungSockets = new Set<Socket>();
  const MODEL = 'resilience-model';

  const job = (over: Partial<ChatJob> = {}): ChatJob => ({
    v: 1,
    jobId: `job-${Math.random().toString(36).slice(2)}`,
    model: MODEL,
    messages: [{ role: 'user', content: 'hi' }],
    sampling: { maxTokens: 4, temperature: 0, stop: [], presencePenalty: 0, frequencyPenalty: 0 },
    n: 1,
    deadline: Date.now() + 60_000,
    ...over,
  });

  /** Every frame of one job, until its end or error. */
  async function run(body: ChatJob): Promise<ChatFrame[]> {
    const inbox = createInbox();
    const sub = nc.subscribe(inbox, { timeout: 60_000 });
    nc.publish(Subjects.chatCompletions, encodeJson(body), { reply: inbox });
    const out: ChatFrame[] = [];
    for await (const message of sub) {
      const decoded = decodeJson(chatFrameSchema, message.data);
      if (!decoded.ok) continue;
      out.push(decoded.value);
      if (decoded.value.type === 'end' || decoded.value.type === 'error') break;
    }
    sub.unsubscribe();
    return out;
  }

  async function metric(name: string, labels = ''): Promise<number> {
    const text = await metricsRegistry.getSingleMetricAsString(name);
    return text
      .split('\n')
      .filter((line) => line.startsWith(name) && line.includes(labels))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  }

  beforeAll(async () => {
    // A NATS of its own: another suite's validator must not take this suite's jobs.
    infra = await provideInfra({ ownNats: true });
    await initCrypto();
    await generateModel({ outDir: join(dir, 'model'), preset: 'tiny' });
    nc = await connect({ servers: infra.natsUrl });
    const neurons: Neuron[] = [];
    for (const i of [1, 2]) {
      const config = loadMinerConfig({
        NATS_URL: infra.natsUrl,
        NETUID: String(netuid),
        MODEL_DIR: join(dir, 'model'),
        HOTKEY_URI: `//resilience/miner/${i}`,
        GRPC_HOST: '127.0.0.1',
        GRPC_PORT: '0',
        MINER_ALLOWED_HOTKEYS: validatorKey.ss58Address,
        INTRA_OP_THREADS: '1',
      });
      const identity = await MinerIdentity.load(config.hotkey);
      const app = await NestFactory.createApplicationContext(MinerModule.forRoot(config, identity), {
        logger: false,
        abortOnError: false,
      });
      await app.init();
      miners.push(app);
      neurons.push({
        uid: i,
        hotkey: identity.hotkey.ss58Address,
        stake: 0,
        validatorPermit: false,
        active: true,
        axon: { ip: '127.0.0.1', port: app.get(MinerGrpcServer).port, protocol: 0, version: 0 },
        role: 'miner',
        model: MODEL,
      });
    }
    // Registered, but nothing listens there any more.
    neurons.push({
      uid: 3,
      hotkey: Keypair.fromUri('//resilience/miner/gone').ss58Address,
      stake: 0,
      validatorPermit: false,
      active: true,
      axon: { ip: '127.0.0.1', port: await freePort(), protocol: 0, version: 0 },
      role: 'miner',
      model: MODEL,
    });
    hung = createServer((socket) => {
      hungSockets.add(socket);
      socket.on('close', () => hungSockets.delete(socket));
    });
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    neurons.push({
      uid: 4,
      hotkey: Keypair.fromUri('//resilience/miner/hung').ss58Address,
      stake: 0,
      validatorPermit: false,
      active: true,
      axon: { ip: '127.0.0.1', port: (hung.address() as { port: number }).port, protocol: 0, version: 0 },
      role: 'miner',
      model: 'hangs',
    });
    const kv = await nc.jetstream().views.kv(Buckets.metagraph, { history: 1 });
    await kv.put(
      metagraphKey(netuid),
      encodeJson({
        v: 1,
        netuid,
        mode: 'local',
        block: 1,
        updatedAt: Date.now(),
        hyperparameters: {},
        neurons,
      }),
    );
    const config = loadValidatorConfig({
      NATS_URL: infra.natsUrl,
      REDIS_URL: process.env.REDIS_URL,
      NETUID: String(netuid),
      HOTKEY_URI: '//resilience/validator',
      WEIGHTS_INTERVAL_SECONDS: '0',
      MINERS_PER_REQUEST: '1',
      MINER_FAILOVERS: '3',
      MAX_CONCURRENT_JOBS: '1',
      MAX_QUEUED_JOBS: '1',
    });
    validator = await NestFactory.createApplicationContext(
      ValidatorModule.forRoot(config, await ValidatorIdentity.load(config.hotkey)),
      { logger: false, abortOnError: false },
    );
    await validator.init();
  }, 180_000);

  afterAll(async () => {
    await validator?.close();
    for (const miner of miners) await miner.close();
    for (const socket of hungSockets) socket.destroy();
    hung?.close();
    await nc?.drain();
    await infra?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ends a prompt beyond the context with invalid_request and its reason, asking one miner only', async () => {
    const before = await metric('chattensor_miner_requests_total', 'outcome="invalid"');
    const frames = await run(job({ messages: [{ role: 'user', content: 'word '.repeat(3000) }] }));
    expect(frames.map((f) => f.type)).toEqual(['accepted', 'error']);
    expect(frames[1]).toMatchObject({
      type: 'error',
      code: 'invalid_request',
      reason: 'context_length_exceeded',
      param: 'messages',
      message: expect.stringMatching(/context window/),
    });
    expect(frames[1]).not.toHaveProperty('retryAfterSeconds');
    expect((await metric('chattensor_miner_requests_total', 'outcome="invalid"')) - before).toBe(1);
  });

  it('answers every job past a registered miner that is gone, and reports that miner unreachable', async () => {
    const reports: { uid: number; reachable?: boolean }[][] = [];
    const sub = nc.subscribe(Subjects.validatorScores(netuid), {
      callback: (_error, message) => {
        const decoded = decodeJson(validatorScoresSchema, message.data);
        if (decoded.ok) reports.push(decoded.value.miners);
      },
    });
    try {
      // One miner per answer, picked at random: ask until the dead one has been picked at least once.
      for (let i = 0; i < 40 && (await metric('chattensor_validator_unreachable_miners')) === 0; i++) {
        const frames = await run(job());
        expect(frames.at(-1)).toMatchObject({ type: 'end', index: 0 });
        expect(frames.at(-1)).not.toMatchObject({ miner: { uid: 3 } });
      }
      expect(await metric('chattensor_validator_unreachable_miners')).toBe(1);
      await expectEventually(() =>
        expect(reports.at(-1)).toEqual(
          expect.arrayContaining([
            expect.objectContaining({ uid: 3, reachable: false }),
            expect.objectContaining({ uid: 1, reachable: true }),
          ]),
        ),
      );
    } finally {
      sub.unsubscribe();
    }
  });

  it('queues a job beyond the running slot and serves it, and refuses with Retry-After once the queue is full', async () => {
    // A job on the miner that hangs holds the only slot until it is cancelled.
    const holder = job({ model: 'hangs' });
    const holderFrames: string[] = [];
    const holderInbox = createInbox();
    const holderSub = nc.subscribe(holderInbox, {
      callback: (_error, message) => {
        const decoded = decodeJson(chatFrameSchema, message.data);
        if (decoded.ok) holderFrames.push(decoded.value.type);
      },
    });
    nc.publish(Subjects.chatCompletions, encodeJson(holder), { reply: holderInbox });
    await expectEventually(async () =>
      expect(await metric('chattensor_validator_num_requests_running')).toBe(1),
    );
    const queued = run(job());
    await expectEventually(async () =>
      expect(await metric('chattensor_validator_num_requests_waiting')).toBe(1),
    );
    const refused = await run(job());
    expect(refused).toEqual([
      expect.objectContaining({ type: 'error', code: 'overloaded', retryAfterSeconds: expect.any(Number) }),
    ]);
    expect((refused[0] as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    nc.publish(Subjects.chatCancel(holder.jobId));
    const waited = await queued;
    expect(waited[0]).toMatchObject({ type: 'accepted' });
    expect(waited[1]).toEqual({ type: 'queued', position: 1 });
    expect(waited.at(-1)).toMatchObject({ type: 'end' });
    // Cancelled: its gateway is gone, so nothing more is sent to it.
    holderSub.unsubscribe();
    expect(holderFrames).toEqual(['accepted']);
  });
});
