import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { connect, createInbox, type NatsConnection } from 'nats';
import { Keypair, initCrypto } from '@chattensor/bittensor';
import {
  Buckets,
  Subjects,
  chatFrameSchema,
  decodeJson,
  encodeJson,
  metagraphKey,
  type ChatFrame,
  type ChatJob,
} from '@chattensor/protocol';
import { freePort, provideInfra, type Infra } from '../../../../test/support/infra';
import { ValidatorModule } from '../app.module';
import { loadValidatorConfig } from '../config/validator.config';
import { ValidatorIdentity } from '../identity/validator-identity';

describe('the validator chat-job handler', () => {
  let infra: Infra;
  const netuid = 30_000 + Math.floor(Math.random() * 10_000);
  let app: INestApplicationContext;
  let nc: NatsConnection;

  const job = (over: Partial<ChatJob> = {}): ChatJob => ({
    v: 1,
    jobId: `job-${Math.random().toString(36).slice(2)}`,
    model: '*',
    messages: [{ role: 'user', content: 'hi' }],
    sampling: { maxTokens: 4, stop: [], presencePenalty: 0, frequencyPenalty: 0 },
    n: 1,
    deadline: Date.now() + 10_000,
    ...over,
  });

  async function frames(body: unknown, count: number): Promise<ChatFrame[]> {
    const inbox = createInbox();
    const sub = nc.subscribe(inbox, { max: count, timeout: 10_000 });
    nc.publish(Subjects.chatCompletions, encodeJson(body), { reply: inbox });
    const out: ChatFrame[] = [];
    for await (const message of sub) {
      const decoded = decodeJson(chatFrameSchema, message.data);
      if (decoded.ok) out.push(decoded.value);
    }
    return out;
  }

  beforeAll(async () => {
    // A NATS of its own: another suite's validator must not take this suite's jobs.
    infra = await provideInfra({ ownNats: true });
    await initCrypto();
    nc = await connect({ servers: infra.natsUrl });
    // One miner registered at a port where nothing listens.
    const deadPort = await freePort();
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
        neurons: [
          {
            uid: 0,
            hotkey: Keypair.fromUri('//jobs/miner').ss58Address,
            stake: 0,
            validatorPermit: false,
            active: true,
            axon: { ip: '127.0.0.1', port: deadPort, protocol: 0, version: 0 },
            role: 'miner',
          },
        ],
      }),
    );
    const config = loadValidatorConfig({
      NATS_URL: infra.natsUrl,
      REDIS_URL: process.env.REDIS_URL,
      NETUID: String(netuid),
      HOTKEY_URI: '//jobs/validator',
      WEIGHTS_INTERVAL_SECONDS: '0',
    });
    app = await NestFactory.createApplicationContext(
      ValidatorModule.forRoot(config, await ValidatorIdentity.load(config.hotkey)),
      {
        logger: false,
        abortOnError: false,
      },
    );
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await nc?.drain();
    await infra?.stop();
  });

  it('answers a malformed job with invalid_request and nothing else', async () => {
    const [frame] = await frames({ v: 1, jobId: 'x' }, 1);
    expect(frame).toMatchObject({ type: 'error', code: 'invalid_request' });
  });

  it('accepts a job, then reports unavailable when no miner answers', async () => {
    const [accepted, error] = await frames(job(), 2);
    expect(accepted).toEqual({
      type: 'accepted',
      validator: Keypair.fromUri('//jobs/validator').ss58Address,
    });
    expect(error).toMatchObject({ type: 'error', code: 'unavailable' });
  });

  it('reports unavailable when no miner serves the requested model', async () => {
    const [, error] = await frames(job({ model: 'not-served' }), 2);
    expect(error).toMatchObject({
      type: 'error',
      code: 'unavailable',
      message: expect.stringMatching(/no miner/),
    });
  });

  async function silence(body: unknown, cancelFirst = false): Promise<number> {
    const inbox = createInbox();
    let received = 0;
    const sub = nc.subscribe(inbox, { callback: () => received++ });
    if (cancelFirst) nc.publish(Subjects.chatCancel((body as ChatJob).jobId));
    nc.publish(Subjects.chatCompletions, encodeJson(body), { reply: inbox });
    // A later job proves the validator has processed the earlier messages.
    await frames(job(), 2);
    sub.unsubscribe();
    return received;
  }

  it('drops a job whose gateway has already given up waiting for a validator', async () => {
    expect(await silence(job({ acceptBy: Date.now() - 60_000 }))).toBe(0);
  });

  it('drops a job that was cancelled before it was picked up', async () => {
    expect(await silence(job(), true)).toBe(0);
  });
});
