/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Metadata, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { connect, type NatsConnection } from 'nats';
import { DendriteSigner, Keypair, initCrypto, sha3Hex } from '@chattensor/bittensor';
import { metricsRegistry } from '@chattensor/common';
import { generateModel } from '@chattensor/inference';
import {
  Buckets,
  MetagraphWatcher,
  authToMetadata,
  encodeJson,
  metagraphKey,
  minerV1,
} from '@chattensor/protocol';
import { expectEventually } from '../../../../test/support/expect-eventually';
import { MinerModule } from '../app.module';
import { loadMinerConfig } from '../config/miner.config';
import { GenerationService } from '../generation/generation.service';
import { MinerIdentity } from '../identity/miner-identity';
import { MinerGrpcServer } from './miner-grpc.server';

const PATH = '/chattensor.miner.v1.MinerService/Generate';

/** What a call ended with: OK and its chunks, or the gRPC status. */
type Outcome = { code: GrpcStatus; details: string; chunks: minerV1.GenerateResponse[] };

describe('the miner gRPC service with one batch slot and one queue place', () => {
  const netuid = 40_000 + Math.floor(Math.random() * 10_000);
  const dir = mkdtempSync(join(tmpdir(), 'chattensor-miner-priority-'));
  const wealthy = new DendriteSigner(Keypair.fromUri('//priority/wealthy'));
  const modest = new DendriteSigner(Keypair.fromUri('//priority/modest'));
  let app: INestApplicationContext;
  let client: Client;
  let nc: NatsConnection;
  let minerHotkey: string;

  beforeAll(async () => {
    await initCrypto();
    // A long context, so that the request holding the slot runs until the test lets it go.
    await generateModel({ outDir: join(dir, 'model'), preset: 'tiny', maxPositions: 16_384 });
    nc = await connect({ servers: process.env.NATS_URL });
    const kv = await nc.jetstream().views.kv(Buckets.metagraph, { history: 1 });
    const validator = (uid: number, signer: DendriteSigner, stake: number) => ({
      uid,
      hotkey: signer.hotkey,
      stake,
      validatorPermit: true,
      active: true,
      axon: null,
      role: 'validator',
    });
    await kv.put(
      metagraphKey(netuid),
      encodeJson({
        v: 1,
        netuid,
        mode: 'local',
        block: 1,
        updatedAt: Date.now(),
        hyperparameters: {},
        neurons: [validator(0, wealthy, 5000), validator(1, modest, 10)],
      }),
    );
    // No allow-list: callers are the validators of the (local) metagraph, ranked by stake.
    const config = loadMinerConfig({
      NATS_URL: process.env.NATS_URL,
      MODEL_DIR: join(dir, 'model'),
      HOTKEY_URI: '//priority/miner',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      NETUID: String(netuid),
      MAX_BATCH_SIZE: '1',
      MAX_QUEUE: '1',
      INTRA_OP_THREADS: '1',
    });
    const identity = await MinerIdentity.load(config.hotkey);
    minerHotkey = identity.hotkey.ss58Address;
    app = await NestFactory.createApplicationContext(MinerModule.forRoot(config, identity), {
      logger: false,
    });
    await app.init();
    await expectEventually(() =>
      expect(app.get(MetagraphWatcher).neuronByHotkey(modest.hotkey)).toBeDefined(),
    );
    client = new Client(`127.0.0.1:${app.get(MinerGrpcServer).port}`, credentials.createInsecure());
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await app?.close();
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function generate(signer: DendriteSigner): Promise<Outcome> {
    const bytes = Buffer.from(
      minerV1.GenerateRequest.encode({
        requestId: 'priority',
        model: '',
        messages: [{ role: 'user', content: 'hello miner' }],
        sampling: {
          maxTokens: 4,
          temperature: 0,
          topK: 0,
          stop: [],
          presencePenalty: 0,
          frequencyPenalty: 0,
          minP: 0,
          repetitionPenalty: 0,
        },
      }).finish(),
    );
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(authToMetadata(signer.sign(minerHotkey, sha3Hex(bytes)), 30)))
      metadata.set(key, value);
    const stream = client.makeServerStreamRequest(
      PATH,
      (b: Buffer) => b,
      (d: Buffer) => minerV1.GenerateResponse.decode(d),
      bytes,
      metadata,
    );
    return (async () => {
      const chunks: minerV1.GenerateResponse[] = [];
      try {
        for await (const chunk of stream) chunks.push(chunk as minerV1.GenerateResponse);
        return { code: GrpcStatus.OK, details: '', chunks };
      } catch (error) {
        const { code, details } = error as ServiceError;
        return { code, details, chunks };
      }
    })();
  }

  const metric = (name: string) => metricsRegistry.getSingleMetricAsString(`chattensor_miner_${name}`);

  it('lets a caller with more stake take the queue place of one with less, and refuses one with no more', async () => {
    // The only batch slot is taken by a generation that ignores end-of-sequence, so it runs until aborted.
    const hold = new AbortController();
    const holder = app
      .get(GenerationService)
      .generate(
        [{ role: 'user', content: 'hold the slot' }],
        { maxTokens: 16_000, ignoreEos: true },
        hold.signal,
      )
      [Symbol.asyncIterator]();
    await holder.next();

    const modestCall = generate(modest);
    await expectEventually(async () => expect(await metric('num_requests_waiting')).toMatch(/waiting 1$/m));
    const wealthyCall = generate(wealthy);
    const displaced = await modestCall;
    expect(displaced.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(displaced.details).toMatch(/stake/);
    expect(displaced.chunks).toHaveLength(0);

    // The wealthy caller now holds the queue place: the modest one is refused at once.
    const refused = await generate(modest);
    expect(refused.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(refused.details).not.toMatch(/stake/);

    hold.abort();
    await holder.return(undefined);
    const served = await wealthyCall;
    expect(served.code).toBe(GrpcStatus.OK);
    expect(served.chunks.at(-1)?.usage?.completionTokens).toBeGreaterThan(0);
    const requests = await metric('requests_total');
    expect(requests).toMatch(/outcome="displaced"} 1$/m);
    expect(requests).toMatch(/outcome="rejected"} 1$/m);
  });
});
