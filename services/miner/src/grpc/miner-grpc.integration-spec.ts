/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Metadata, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DendriteSigner, Keypair, initCrypto, sha3Hex } from '@chattensor/bittensor';
import { metricsRegistry } from '@chattensor/common';
import { generateModel } from '@chattensor/inference';
import { authToMetadata, minerV1 } from '@chattensor/protocol';
import { MinerModule } from '../app.module';
import { loadMinerConfig } from '../config/miner.config';
import { MinerIdentity } from '../identity/miner-identity';
import { MinerGrpcServer } from './miner-grpc.server';

const PATH = '/chattensor.miner.v1.MinerService/Generate';

describe('the miner gRPC service', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chattensor-miner-'));
  let app: INestApplicationContext;
  let client: Client;
  let minerHotkey: string;
  let validator: DendriteSigner;

  beforeAll(async () => {
    await initCrypto();
    await generateModel({ outDir: join(dir, 'model'), preset: 'tiny' });
    const validatorKey = Keypair.fromUri('//test/validator');
    validator = new DendriteSigner(validatorKey);
    const config = loadMinerConfig({
      NATS_URL: process.env.NATS_URL,
      MODEL_DIR: join(dir, 'model'),
      HOTKEY_URI: '//test/miner',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      NETUID: '900',
      MINER_ALLOWED_HOTKEYS: validatorKey.ss58Address,
      INTRA_OP_THREADS: '1',
    });
    const identity = await MinerIdentity.load(config.hotkey);
    minerHotkey = identity.hotkey.ss58Address;
    app = await NestFactory.createApplicationContext(MinerModule.forRoot(config, identity), {
      logger: false,
    });
    await app.init();
    client = new Client(`127.0.0.1:${app.get(MinerGrpcServer).port}`, credentials.createInsecure());
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const request = (
    maxTokens = 8,
    messages = [{ role: 'user', content: 'hello miner' }],
    continueFinalMessage?: boolean,
  ): Buffer =>
    Buffer.from(
      minerV1.GenerateRequest.encode({
        requestId: 'r1',
        model: '',
        messages,
        continueFinalMessage,
        sampling: {
          maxTokens,
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

  function call(bytes: Buffer, metadata: Metadata) {
    return client.makeServerStreamRequest(
      PATH,
      (b: Buffer) => b,
      (d: Buffer) => minerV1.GenerateResponse.decode(d),
      bytes,
      metadata,
    );
  }

  async function drain(bytes: Buffer, metadata: Metadata): Promise<minerV1.GenerateResponse[]> {
    const out: minerV1.GenerateResponse[] = [];
    for await (const chunk of call(bytes, metadata)) out.push(chunk as minerV1.GenerateResponse);
    return out;
  }

  function signed(bytes: Buffer, signer = validator, axon = minerHotkey): Metadata {
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(authToMetadata(signer.sign(axon, sha3Hex(bytes)), 12)))
      metadata.set(k, v);
    return metadata;
  }

  async function failureOf(bytes: Buffer, metadata: Metadata): Promise<ServiceError> {
    try {
      await drain(bytes, metadata);
    } catch (error) {
      return error as ServiceError;
    }
    throw new Error('the call succeeded');
  }

  it('streams tokens to a signed caller on the allow-list, ending with usage', async () => {
    const chunks = await drain(request(8), signed(request(8)));
    const last = chunks[chunks.length - 1];
    expect(last.finishReason).toBe('length');
    expect(last.usage?.completionTokens).toBe(8);
    expect(chunks.reduce((n, c) => n + c.tokenCount, 0)).toBe(8);
    expect(chunks.map((c) => c.textDelta).join('').length).toBeGreaterThan(0);
  });

  it('refuses a prompt beyond the context window with INVALID_ARGUMENT, naming the reason in the trailers', async () => {
    const tooLong = request(8, [{ role: 'user', content: 'word '.repeat(3000) }]);
    const failure = await failureOf(tooLong, signed(tooLong));
    expect(failure.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(failure.details).toMatch(/context window/);
    expect(failure.metadata.get('chattensor-error-reason')).toEqual(['context_length_exceeded']);
  });

  it('continues a final assistant message when asked to, and refuses to without one', async () => {
    const started = [
      { role: 'user', content: 'hello miner' },
      { role: 'assistant', content: 'Hello, I am' },
    ];
    const continued = request(4, started, true);
    const chunks = await drain(continued, signed(continued));
    const closed = request(4, started);
    const fresh = await drain(closed, signed(closed));
    // The continued prompt stops inside the assistant turn: no end-of-turn, no new header.
    expect(chunks.at(-1)?.usage?.promptTokens).toBeLessThan(fresh.at(-1)!.usage!.promptTokens);
    expect(chunks.at(-1)?.usage?.completionTokens).toBe(4);
    const invalid = request(4, [{ role: 'user', content: 'hello miner' }], true);
    expect((await failureOf(invalid, signed(invalid))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });

  it('refuses an unsigned call with UNAUTHENTICATED', async () => {
    expect((await failureOf(request(), new Metadata())).code).toBe(GrpcStatus.UNAUTHENTICATED);
  });

  it('refuses a call whose body differs from what was signed', async () => {
    expect((await failureOf(request(9), signed(request(8)))).code).toBe(GrpcStatus.UNAUTHENTICATED);
  });

  it('refuses a forged signature', async () => {
    const metadata = signed(request());
    metadata.set('bt-dendrite-hotkey', Keypair.fromUri('//someone/else').ss58Address);
    expect((await failureOf(request(), metadata)).code).toBe(GrpcStatus.UNAUTHENTICATED);
  });

  it('refuses a replayed nonce', async () => {
    const metadata = signed(request(2));
    await drain(request(2), metadata);
    const replay = await failureOf(request(2), metadata);
    expect(replay.code).toBe(GrpcStatus.UNAUTHENTICATED);
    expect(replay.details).toMatch(/nonce/);
  });

  it('refuses a call addressed to another miner', async () => {
    expect(
      (await failureOf(request(), signed(request(), validator, Keypair.fromUri('//other/miner').ss58Address)))
        .code,
    ).toBe(GrpcStatus.UNAUTHENTICATED);
  });

  it('refuses a correctly signed caller that is not on the allow-list with PERMISSION_DENIED', async () => {
    const stranger = new DendriteSigner(Keypair.fromUri('//stranger'));
    expect((await failureOf(request(), signed(request(), stranger))).code).toBe(GrpcStatus.PERMISSION_DENIED);
  });

  it('stops generating when the caller cancels', async () => {
    const bytes = request(2000);
    const stream = call(bytes, signed(bytes));
    stream.on('error', () => undefined); // CANCELLED, expected
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.cancel();
    const cancelled = async () => {
      const metric = await metricsRegistry.getSingleMetricAsString('chattensor_miner_requests_total');
      return /outcome="cancelled"} 1/.test(metric);
    };
    const deadline = Date.now() + 5000;
    while (!(await cancelled()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await cancelled()).toBe(true);
  });
});
