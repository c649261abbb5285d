/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Metadata, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  CRYPTO_ED25519,
  Dendrite,
  DendriteSigner,
  Keypair,
  StreamPrompting,
  dendriteMessage,
  initCrypto,
  sha3Hex,
  signBtAuth,
  timeNs,
} from '@chattensor/bittensor';
import { generateModel } from '@chattensor/inference';
import { authToMetadata, minerV1 } from '@chattensor/protocol';
import { MinerModule } from '../app.module';
import { loadMinerConfig } from '../config/miner.config';
import { MinerIdentity } from '../identity/miner-identity';
import { MinerGrpcServer } from '../grpc/miner-grpc.server';
import { MinerAxonServer } from './miner-axon.server';

const S = 1_000_000_000n;
const PATH = '/v1/chat/completions';

/**
 * One real miner (a generated model on onnxruntime) with its three
 * transports: the OpenAI-compatible API behind btauth/1 and the legacy
 * SDK-10 axon on the public port, gRPC in the cluster. Each must refuse
 * replayed, stale, future, forged, wrong-receiver and tampered requests.
 */
describe('the miner public port', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chattensor-miner-public-'));
  let app: INestApplicationContext;
  let base: string;
  let miner: string;
  let axonPort: number;
  let grpc: Client;
  const validator = Keypair.fromUri('//public/validator');
  const edValidator = Keypair.fromUri('//public//ed-validator', CRYPTO_ED25519);
  const stranger = Keypair.fromUri('//public/stranger');

  beforeAll(async () => {
    await initCrypto();
    await generateModel({ outDir: join(dir, 'model'), preset: 'tiny' });
    const config = loadMinerConfig({
      NATS_URL: process.env.NATS_URL,
      MODEL_DIR: join(dir, 'model'),
      HOTKEY_URI: '//public/miner',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      AXON_ENABLED: 'true',
      AXON_HOST: '127.0.0.1',
      AXON_PORT: '0',
      AXON_LEGACY_SDK10: 'true',
      NETUID: '901',
      MINER_ALLOWED_HOTKEYS: `${validator.ss58Address},${edValidator.ss58Address}`,
      INTRA_OP_THREADS: '1',
    });
    const identity = await MinerIdentity.load(config.hotkey);
    miner = identity.hotkey.ss58Address;
    app = await NestFactory.createApplicationContext(MinerModule.forRoot(config, identity), {
      logger: false,
    });
    await app.init();
    axonPort = app.get(MinerAxonServer).port;
    base = `http://127.0.0.1:${axonPort}`;
    grpc = new Client(`127.0.0.1:${app.get(MinerGrpcServer).port}`, credentials.createInsecure());
  }, 60_000);

  afterAll(async () => {
    grpc?.close();
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const chatBody = (extra: Record<string, unknown> = {}) =>
    Buffer.from(
      JSON.stringify({
        model: 'any',
        messages: [{ role: 'user', content: 'hello miner' }],
        max_tokens: 6,
        temperature: 0,
        ...extra,
      }),
    );

  function signed(
    body: Buffer,
    options: { key?: Keypair; nonceNs?: bigint; receiver?: string | null; path?: string } = {},
  ) {
    return signBtAuth(options.key ?? validator, {
      method: 'POST',
      path: options.path ?? PATH,
      body,
      receiver: options.receiver === null ? undefined : (options.receiver ?? miner),
      nonceNs: options.nonceNs,
    });
  }

  const post = (body: Buffer, headers: Record<string, string>, path = PATH) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  async function errorOf(
    response: Response,
  ): Promise<{ status: number; type: string; code: string | null; message: string }> {
    const body = (await response.json()) as { error: { type: string; code: string | null; message: string } };
    return { status: response.status, ...body.error };
  }

  it('answers a btauth/1-signed chat completion as OpenAI JSON with token ids and usage', async () => {
    const body = chatBody();
    const response = await post(body, signed(body));
    expect(response.status).toBe(200);
    const json = (await response.json()) as {
      object: string;
      choices: { message: { role: string; content: string }; finish_reason: string; token_ids: number[] }[];
      usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    };
    expect(json.object).toBe('chat.completion');
    expect(json.choices[0].message.role).toBe('assistant');
    expect(['stop', 'length']).toContain(json.choices[0].finish_reason);
    expect(json.choices[0].token_ids.length).toBe(json.usage.completion_tokens);
    expect(json.usage.prompt_tokens).toBeGreaterThan(0);
    expect(json.usage.total_tokens).toBe(json.usage.prompt_tokens + json.usage.completion_tokens);
  });

  it('streams SSE chunks with token ids, a finish reason, usage and [DONE], to an ed25519 caller too', async () => {
    const body = chatBody({ stream: true, stream_options: { include_usage: true } });
    const response = await post(body, signed(body, { key: edValidator }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const events = (await response.text())
      .split('\n\n')
      .filter(Boolean)
      .map((e) => e.replace(/^data: /, ''));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map(
      (e) =>
        JSON.parse(e) as {
          choices: { delta: { content?: string }; finish_reason: string | null; token_ids: number[] }[];
          usage?: { completion_tokens: number };
        },
    );
    const tokens = chunks.flatMap((c) => c.choices.flatMap((choice) => choice.token_ids));
    const usage = chunks.at(-1)!.usage!;
    expect(tokens.length).toBe(usage.completion_tokens);
    expect(
      chunks.some((c) => c.choices[0]?.finish_reason === 'stop' || c.choices[0]?.finish_reason === 'length'),
    ).toBe(true);
  });

  it('refuses replayed, stale, future, forged, wrong-receiver and tampered btauth/1 requests, and callers off the allow-list', async () => {
    const body = chatBody({ max_tokens: 1 });
    const once = signed(body);
    expect((await post(body, once)).status).toBe(200);
    expect(await errorOf(await post(body, once))).toMatchObject({
      status: 401,
      type: 'authentication_error',
      code: 'btauth_replayed',
    });
    const now = timeNs();
    expect(await errorOf(await post(body, signed(body, { nonceNs: now - 11n * S })))).toMatchObject({
      status: 401,
      code: 'btauth_stale',
    });
    expect(await errorOf(await post(body, signed(body, { nonceNs: now - 3600n * S })))).toMatchObject({
      status: 401,
      code: 'btauth_stale',
    });
    expect(await errorOf(await post(body, signed(body, { nonceNs: now + 60n * S })))).toMatchObject({
      status: 401,
      code: 'btauth_stale',
    });
    const forged = { ...signed(body), 'X-Bittensor-Signature': stranger.sign('not the payload') };
    expect(await errorOf(await post(body, forged))).toMatchObject({
      status: 401,
      code: 'btauth_bad_signature',
    });
    expect(await errorOf(await post(body, signed(body, { receiver: stranger.ss58Address })))).toMatchObject({
      status: 403,
      type: 'permission_error',
      code: 'wrong_receiver',
    });
    expect(await errorOf(await post(body, signed(body, { receiver: null })))).toMatchObject({
      status: 403,
      code: 'wrong_receiver',
    });
    expect(await errorOf(await post(chatBody({ max_tokens: 2 }), signed(body)))).toMatchObject({
      status: 401,
      code: 'btauth_bad_signature',
    });
    expect(await errorOf(await post(body, {}))).toMatchObject({ status: 401, code: 'btauth_malformed' });
    const refused = await errorOf(await post(body, signed(body, { key: stranger })));
    expect(refused).toMatchObject({ status: 403, type: 'permission_error' });
    expect(refused.message).toContain('allow-list');
  });

  it('lists its model on a btauth/1-signed GET /v1/models, and nothing unsigned', async () => {
    const headers = signBtAuth(validator, { method: 'GET', path: '/v1/models', receiver: miner });
    const response = await fetch(`${base}/v1/models`, { headers });
    expect(response.status).toBe(200);
    const list = (await response.json()) as { object: string; data: { id: string; object: string }[] };
    expect(list).toMatchObject({ object: 'list', data: [{ object: 'model' }] });
    expect((await fetch(`${base}/v1/models`)).status).toBe(401);
  });

  it('answers a bad body with an OpenAI 400 naming the parameter, after authentication', async () => {
    const body = chatBody({ temperature: 7 });
    expect(await errorOf(await post(body, signed(body)))).toMatchObject({
      status: 400,
      type: 'invalid_request_error',
    });
    const empty = Buffer.from(JSON.stringify({ model: 'm', messages: [] }));
    expect(await errorOf(await post(empty, signed(empty)))).toMatchObject({
      status: 400,
      message: expect.stringContaining('messages'),
    });
  });

  it('continues the last assistant message on continue_final_message, as a validator resumes an answer', async () => {
    const messages = [
      { role: 'user', content: 'hello miner' },
      { role: 'assistant', content: 'Hello! I am' },
    ];
    const usageOf = async (extra: Record<string, unknown>) => {
      const body = chatBody({ messages, ...extra });
      const response = await post(body, signed(body));
      expect(response.status).toBe(200);
      return ((await response.json()) as { usage: { prompt_tokens: number } }).usage;
    };
    // Answering closes the assistant turn and opens a new one; continuing leaves it open.
    const answered = await usageOf({});
    const continued = await usageOf({ continue_final_message: true, add_generation_prompt: false });
    expect(continued.prompt_tokens).toBeLessThan(answered.prompt_tokens);
    const both = chatBody({ messages, continue_final_message: true, add_generation_prompt: true });
    expect(await errorOf(await post(both, signed(both)))).toMatchObject({
      status: 400,
      type: 'invalid_request_error',
      message: expect.stringContaining('cannot both be true'),
    });
    const nothingToContinue = chatBody({ continue_final_message: true });
    expect(await errorOf(await post(nothingToContinue, signed(nothingToContinue)))).toMatchObject({
      status: 400,
      message: expect.stringContaining('assistant message last'),
    });
  });

  it('still serves the SDK-10 StreamPrompting axon on the same port, refusing stale, future, forged, misaddressed, tampered and replayed requests', async () => {
    const result = await new Dendrite(validator)
      .stream({ ip: '127.0.0.1', port: axonPort, hotkey: miner }, StreamPrompting, {
        roles: ['user'],
        messages: ['hi'],
        max_tokens: 3,
      })
      .collect();
    expect(result.statusCode).toBe(200);
    // An hour-old nonce with a huge claimed timeout: the unsigned timeout no longer widens the window.
    let captured: { url: string; init: RequestInit } | undefined;
    const capture: typeof fetch = async (url, init) => {
      captured = { url: url as string, init: init! };
      return new Response('{}', { status: 599 });
    };
    await new Dendrite(validator, { fetch: capture })
      .stream(
        { ip: '127.0.0.1', port: axonPort, hotkey: miner },
        StreamPrompting,
        { roles: ['user'], messages: ['old'] },
        { timeoutSeconds: 100_000 },
      )
      .collect();
    const original = captured!.init.headers as Record<string, string>;
    /** The captured request re-signed with another nonce and/or addressee, and optionally another body. */
    const send = async (
      nonce: bigint,
      options: { axonHotkey?: string; signature?: string; body?: string } = {},
    ) => {
      const headers = { ...original };
      const axonHotkey = options.axonHotkey ?? miner;
      const unsigned = {
        nonce,
        dendriteHotkey: validator.ss58Address,
        axonHotkey,
        uuid: headers.bt_header_dendrite_uuid,
        bodyHash: headers.computed_body_hash,
      };
      Object.assign(headers, {
        bt_header_axon_hotkey: axonHotkey,
        bt_header_dendrite_nonce: String(nonce),
        bt_header_dendrite_signature: options.signature ?? validator.sign(dendriteMessage(unsigned)),
      });
      const response = await fetch(captured!.url, {
        ...captured!.init,
        headers,
        body: options.body ?? (captured!.init.body as string),
      });
      await response.body?.cancel();
      return {
        status: response.status,
        message: response.headers.get('bt_header_axon_status_message') ?? '',
      };
    };
    // An hour-old nonce with a huge claimed timeout: the unsigned timeout no longer widens the window.
    expect(await send(timeNs() - 3600n * S)).toMatchObject({
      status: 401,
      message: expect.stringContaining('too old'),
    });
    expect(await send(timeNs() + 60n * S)).toMatchObject({
      status: 401,
      message: expect.stringContaining('future'),
    });
    expect(await send(timeNs(), { signature: stranger.sign('x') })).toMatchObject({
      status: 401,
      message: expect.stringContaining('signature'),
    });
    expect(await send(timeNs(), { axonHotkey: stranger.ss58Address })).toMatchObject({
      status: 401,
      message: expect.stringContaining('not to this axon'),
    });
    const tampered = (captured!.init.body as string).replace('old', 'new');
    expect(await send(timeNs(), { body: tampered })).toMatchObject({
      status: 401,
      message: expect.stringContaining('Hash mismatch'),
    });
    const nonce = timeNs();
    expect(await send(nonce)).toMatchObject({ status: 200 });
    expect(await send(nonce)).toMatchObject({ status: 401, message: expect.stringContaining('not newer') });
  });

  describe('gRPC in the cluster', () => {
    const request = Buffer.from(
      minerV1.GenerateRequest.encode({
        requestId: 'r',
        model: '',
        messages: [{ role: 'user', content: 'hi' }],
        sampling: {
          maxTokens: 2,
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

    function call(bytes: Buffer, auth: Record<string, string>): Promise<GrpcStatus> {
      const metadata = new Metadata();
      for (const [k, v] of Object.entries(auth)) metadata.set(k, v);
      const stream = grpc.makeServerStreamRequest(
        '/chattensor.miner.v1.MinerService/Generate',
        (b: Buffer) => b,
        (d: Buffer) => d,
        bytes,
        metadata,
      );
      return new Promise((resolve) => {
        stream.on('data', () => undefined);
        stream.on('error', (error: ServiceError) => resolve(error.code));
        stream.on('end', () => resolve(GrpcStatus.OK));
      });
    }

    const resign = (nonce: bigint, bytes = request, to = miner) => {
      const unsigned = {
        nonce,
        dendriteHotkey: validator.ss58Address,
        axonHotkey: to,
        uuid: 'grpc-lane',
        bodyHash: sha3Hex(bytes),
      };
      return { ...unsigned, signature: validator.sign(dendriteMessage(unsigned)) };
    };

    it('serves an ed25519 validator that declares its scheme, and only under that scheme', async () => {
      const signer = new DendriteSigner(edValidator);
      const auth = signer.sign(miner, sha3Hex(request));
      expect(auth.cryptoType).toBe(CRYPTO_ED25519);
      expect(await call(request, authToMetadata(auth, 30))).toBe(GrpcStatus.OK);
      const undeclared = signer.sign(miner, sha3Hex(request));
      const { ['bt-crypto']: _scheme, ...metadata } = authToMetadata(undeclared, 30);
      expect(await call(request, metadata)).toBe(GrpcStatus.UNAUTHENTICATED);
    });

    it('refuses stale (whatever bt-timeout says), future, replayed, forged, wrong-receiver and tampered calls', async () => {
      const signer = new DendriteSigner(validator);
      const fresh = signer.sign(miner, sha3Hex(request));
      expect(await call(request, authToMetadata(fresh, 30))).toBe(GrpcStatus.OK);
      expect(await call(request, authToMetadata(fresh, 30))).toBe(GrpcStatus.UNAUTHENTICATED);
      const now = timeNs();
      expect(await call(request, authToMetadata(resign(now - 50n * 60n * S), 100_000))).toBe(
        GrpcStatus.UNAUTHENTICATED,
      );
      expect(await call(request, authToMetadata(resign(now + 60n * S), 30))).toBe(GrpcStatus.UNAUTHENTICATED);
      expect(await call(request, authToMetadata({ ...resign(now), signature: stranger.sign('x') }, 30))).toBe(
        GrpcStatus.UNAUTHENTICATED,
      );
      expect(await call(request, authToMetadata(resign(timeNs(), request, stranger.ss58Address), 30))).toBe(
        GrpcStatus.UNAUTHENTICATED,
      );
      const tampered = Buffer.from(request);
      tampered[tampered.length - 1] ^= 1;
      expect(await call(tampered, authToMetadata(resign(timeNs()), 30))).toBe(GrpcStatus.UNAUTHENTICATED);
    });
  });
});
