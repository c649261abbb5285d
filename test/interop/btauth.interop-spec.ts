/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { connect, createInbox, type NatsConnection } from 'nats';
import {
  BtAuthError,
  CRYPTO_ED25519,
  CRYPTO_SR25519,
  InMemoryNonceStore,
  Keypair,
  btAuthPayload,
  initCrypto,
  signBtAuth,
  timeNs,
  verifyBtAuth,
  type CryptoType,
} from '@chattensor/bittensor';
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
import { expectEventually } from '../support/expect-eventually';
import { PYTHON, PythonOracle, runPython, startPython } from './support/python';
import { Rng } from './support/random';

/*
 * btauth/1 against bittensor.http_auth of bittensor 11.3.0 (the .venv): the
 * signed payload byte for byte, signatures both ways for sr25519 and
 * ed25519, the same verdict and message for every refused request; then both
 * directions over the network: a Python script using only the SDK and an
 * HTTP client streams an answer from a ChatTensor miner, and a ChatTensor
 * validator scores a plain OpenAI-compatible Python server whose btauth/1
 * check is the SDK's.
 */
const S = 1_000_000_000n;
let py: PythonOracle;

beforeAll(async () => {
  await initCrypto();
  py = new PythonOracle('oracle11.py', PYTHON);
});

afterAll(async () => {
  await py.close();
});

interface PyVerdict {
  hotkey?: string;
  crypto_type?: number;
  error?: string;
  message?: string;
}

const hex = (b: Buffer | string) => Buffer.from(b).toString('hex');

describe('btauth/1 agrees with bittensor.http_auth 11.3.0', () => {
  it('builds the same signed payload for 300 random requests', async () => {
    const rng = new Rng(1311);
    const senders = Array.from({ length: 6 }, (_, i) => Keypair.fromUri(`//payload/${i}`).ss58Address);
    const receivers = Array.from({ length: 6 }, (_, i) => Keypair.fromUri(`//payload/r${i}`).ss58Address);
    const cases = Array.from({ length: 300 }, () => {
      const body = Buffer.from(
        Array.from({ length: rng.pick([0, 1, 17, rng.int(0, 4000)]) }, () => rng.int(0, 255)),
      );
      return {
        scheme: rng.pick(['sr25519', 'ed25519'] as const),
        method: rng.pick(['POST', 'post', 'Get', 'PUT', 'delete']),
        path: rng.pick([
          '/v1/chat/completions',
          '/',
          '/a/b?x=1&y=%20ü',
          `/p/${rng.int(0, 1e6)}?q=${rng.int(0, 9)}`,
        ]),
        body,
        nonceNs: BigInt(rng.int(0, 2 ** 31)) * BigInt(rng.int(1, 2 ** 31)),
        sender: rng.pick(senders),
        receiver: rng.chance(0.3) ? undefined : rng.pick(receivers),
      };
    });
    const theirs = await Promise.all(
      cases.map((c) =>
        py.call<string>('btauth_payload', {
          scheme: c.scheme,
          method: c.method,
          path: c.path,
          body: hex(c.body),
          nonce: c.nonceNs.toString(),
          sender: c.sender,
          receiver: c.receiver,
        }),
      ),
    );
    cases.forEach((c, i) =>
      expect({ i, payload: btAuthPayload(c).toString('hex') }).toEqual({ i, payload: theirs[i] }),
    );
  });

  it.each([
    ['sr25519', CRYPTO_SR25519],
    ['ed25519', CRYPTO_ED25519],
  ] as const)(
    'signs %s requests the SDK verifies, and verifies the SDK’s',
    async (_scheme, cryptoType: CryptoType) => {
      const key = Keypair.fromUri('//btauth//interop//sender', cryptoType);
      const receiver = Keypair.fromUri('//btauth/interop/receiver').ss58Address;
      const body = Buffer.from('{"messages":[{"role":"user","content":"héllo"}]}');
      const nonce = timeNs();
      const ours = signBtAuth(key, {
        method: 'POST',
        path: '/v1/chat/completions?x=1',
        body,
        receiver,
        nonceNs: nonce,
      });
      const theirs = await py.call<Record<string, string>>('btauth_sign', {
        uri: '//btauth//interop//sender',
        crypto_type: cryptoType,
        method: 'POST',
        path: '/v1/chat/completions?x=1',
        body: hex(body),
        receiver,
        nonce: nonce.toString(),
      });
      // Same headers, in the same order; ed25519 signatures are deterministic, so those are equal too.
      expect(Object.keys(ours)).toEqual(Object.keys(theirs));
      const { ['X-Bittensor-Signature']: ourSig, ...ourRest } = ours;
      const { ['X-Bittensor-Signature']: theirSig, ...theirRest } = theirs;
      expect(ourRest).toEqual(theirRest);
      if (cryptoType === CRYPTO_ED25519) expect(ourSig).toBe(theirSig);
      const verdict = await py.call<PyVerdict>('btauth_verify', {
        headers: ours,
        body: hex(body),
        method: 'POST',
        path: '/v1/chat/completions?x=1',
        self: receiver,
      });
      expect(verdict).toMatchObject({ hotkey: key.ss58Address, crypto_type: cryptoType });
      const caller = await verifyBtAuth(theirs, body, {
        method: 'POST',
        path: '/v1/chat/completions?x=1',
        selfHotkey: receiver,
        nonceStore: new InMemoryNonceStore(),
      });
      expect(caller).toMatchObject({ hotkey: key.ss58Address, cryptoType });
    },
  );

  it('refuses what the SDK refuses, with the same error class and message', async () => {
    const key = Keypair.fromUri('//btauth/verdicts');
    const edKey = Keypair.fromUri('//btauth//verdicts', CRYPTO_ED25519);
    const self = Keypair.fromUri('//btauth/verdicts/self').ss58Address;
    const now = 1_800_000_000n * S;
    const body = Buffer.from('{"a":1}');
    const sign = (nonceNs: bigint, extra: Partial<Parameters<typeof signBtAuth>[1]> = {}, k = key) =>
      signBtAuth(k, { method: 'POST', path: '/x', body, receiver: self, nonceNs, ...extra });
    const base = sign(now);
    const lower = Object.fromEntries(Object.entries(base).map(([k, v]) => [k.toLowerCase(), v]));
    const ed = sign(now + 7n, {}, edKey);
    const cases: {
      name: string;
      headers: Record<string, string>;
      body?: Buffer;
      path?: string;
      requireReceiver?: boolean;
    }[] = [
      { name: 'fresh', headers: sign(now + 1n) },
      { name: 'stale', headers: sign(now - 10n * S - 1n) },
      { name: 'edge of max age', headers: sign(now - 10n * S) },
      { name: 'future', headers: sign(now + 2n * S + 1n) },
      { name: 'edge of skew', headers: sign(now + 2n * S) },
      {
        name: 'forged',
        headers: { ...sign(now + 2n), 'X-Bittensor-Signature': Keypair.fromUri('//mallory').sign('x') },
      },
      { name: 'wrong receiver', headers: sign(now + 3n, { receiver: key.ss58Address }) },
      { name: 'no receiver', headers: sign(now + 4n, { receiver: undefined }) },
      {
        name: 'no receiver allowed',
        headers: sign(now + 5n, { receiver: undefined }),
        requireReceiver: false,
      },
      { name: 'tampered body', headers: sign(now + 6n), body: Buffer.from('{"a":2}') },
      { name: 'tampered path', headers: sign(now + 8n), path: '/y' },
      {
        name: 'lower-case headers',
        headers: {
          ...lower,
          'x-bittensor-nonce': String(now + 9n),
          'x-bittensor-signature': sign(now + 9n)['X-Bittensor-Signature'],
        },
      },
      { name: 'bad version', headers: { ...base, 'X-Bittensor-Version': '2' } },
      { name: 'no hotkey', headers: { ...base, 'X-Bittensor-Hotkey': '' } },
      {
        name: 'nonce with sign and spaces',
        headers: { ...sign(now + 10n), 'X-Bittensor-Nonce': ` +${now + 10n} ` },
      },
      { name: 'nonce with underscores', headers: { ...base, 'X-Bittensor-Nonce': '1_800' } },
      { name: 'nonce not a number', headers: { ...base, 'X-Bittensor-Nonce': '0x10' } },
      { name: 'unknown crypto', headers: { ...base, 'X-Bittensor-Crypto': 'ecdsa' } },
      { name: 'crypto as a number', headers: { ...ed, 'X-Bittensor-Crypto': ' 0 ' } },
      { name: 'ed25519 signature claimed as sr25519', headers: { ...ed, 'X-Bittensor-Crypto': 'SR25519' } },
      { name: 'signature not hex', headers: { ...base, 'X-Bittensor-Signature': '0xnothex' } },
      {
        name: 'short signature',
        headers: { ...base, 'X-Bittensor-Signature': base['X-Bittensor-Signature'].slice(0, -4) },
      },
      { name: 'bad hotkey', headers: { ...base, 'X-Bittensor-Hotkey': `${key.ss58Address.slice(0, -1)}X` } },
      { name: 'replayed', headers: sign(now + 1n) },
    ];
    const ours: Record<string, unknown>[] = [];
    const theirs: Record<string, unknown>[] = [];
    const store = new InMemoryNonceStore();
    for (const c of cases) {
      const options = {
        method: 'POST',
        path: c.path ?? '/x',
        selfHotkey: self,
        nonceStore: store,
        nowNs: now,
        requireReceiver: c.requireReceiver,
      };
      try {
        const caller = await verifyBtAuth(c.headers, c.body ?? body, options);
        ours.push({ case: c.name, hotkey: caller.hotkey });
      } catch (error) {
        if (!(error instanceof BtAuthError)) throw error;
        ours.push({ case: c.name, error: error.name, message: error.message });
      }
      const verdict = await py.call<PyVerdict>('btauth_verify', {
        headers: c.headers,
        body: hex(c.body ?? body),
        method: 'POST',
        path: c.path ?? '/x',
        self,
        now: now.toString(),
        require_receiver: c.requireReceiver ?? true,
      });
      theirs.push(
        verdict.error
          ? { case: c.name, error: verdict.error, message: verdict.message }
          : { case: c.name, hotkey: verdict.hotkey },
      );
    }
    expect(ours).toEqual(theirs);
    expect(ours.filter((o) => 'error' in o).length).toBeGreaterThan(12);
  });
});

describe('a current-SDK script streams a chat answer from a ChatTensor miner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'btauth-miner-'));
  let app: INestApplicationContext;
  let port: number;
  let minerHotkey: string;
  const srValidator = Keypair.fromUri('//btauth/py-validator');
  const edValidator = Keypair.fromUri('//btauth//py-validator', CRYPTO_ED25519);

  beforeAll(async () => {
    await generateModel({ outDir: join(dir, 'model'), preset: 'tiny' });
    const config = loadMinerConfig({
      NATS_URL: process.env.NATS_URL,
      MODEL_DIR: join(dir, 'model'),
      HOTKEY_URI: '//btauth/miner',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      AXON_ENABLED: 'true',
      AXON_HOST: '127.0.0.1',
      AXON_PORT: '0',
      NETUID: '913',
      MINER_ALLOWED_HOTKEYS: `${srValidator.ss58Address},${edValidator.ss58Address}`,
      INTRA_OP_THREADS: '1',
    });
    const identity = await MinerIdentity.load(config.hotkey);
    minerHotkey = identity.hotkey.ss58Address;
    app = await NestFactory.createApplicationContext(MinerModule.forRoot(config, identity), {
      logger: false,
    });
    await app.init();
    port = app.get(MinerAxonServer).port;
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  interface ClientResult {
    status: number;
    text: string;
    token_ids: number[];
    usage: { prompt_tokens: number; completion_tokens: number } | null;
    finish_reason: string | null;
    done: boolean;
    error?: { type: string; message: string };
  }

  const ask = async (uri: string, cryptoType: CryptoType) => {
    const run = await runPython(
      'btauth_chat_client.py',
      ['127.0.0.1', String(port), minerHotkey, uri, String(cryptoType), 'hello from python'],
      60_000,
      PYTHON,
    );
    if (run.code !== 0) throw new Error(`client failed: ${run.stderr}`);
    return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as ClientResult;
  };

  it.each([
    ['an sr25519', '//btauth/py-validator', CRYPTO_SR25519],
    ['an ed25519', '//btauth//py-validator', CRYPTO_ED25519],
  ] as const)('streams to %s hotkey with token ids and usage', async (_name, uri, cryptoType) => {
    const result = await ask(uri, cryptoType);
    expect(result).toMatchObject({ status: 200, done: true });
    expect(['stop', 'length']).toContain(result.finish_reason);
    expect(result.token_ids.length).toBe(result.usage!.completion_tokens);
    expect(result.usage!.prompt_tokens).toBeGreaterThan(0);
  });

  it('answers 403 to a hotkey that is not a permitted validator', async () => {
    const result = await ask('//btauth/stranger', CRYPTO_SR25519);
    expect(result).toMatchObject({ status: 403, error: { type: 'permission_error' } });
  });
});

describe('a ChatTensor validator scores a plain OpenAI-compatible server behind the SDK’s btauth/1 check', () => {
  const netuid = 60_000 + Math.floor(Math.random() * 5_000);
  const validatorUri = '//btauth/cluster-validator';
  let server: Awaited<ReturnType<typeof startPython>>;
  let validator: INestApplicationContext;
  let nc: NatsConnection;
  let redis: Redis;
  let port: number;
  let minerHotkey: string;

  beforeAll(async () => {
    server = await startPython(
      'openai_btauth_server.py',
      ['0', '//btauth/plain-miner', Keypair.fromUri(validatorUri).ss58Address],
      60_000,
      PYTHON,
    );
    [port, minerHotkey] = [Number(server.ready.split(' ')[0]), server.ready.split(' ')[1]];
    nc = await connect({ servers: process.env.NATS_URL });
    redis = new Redis(process.env.REDIS_URL!);
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
          // What the current SDK's serve_axon publishes by default: protocol 4, version 1.
          {
            uid: 3,
            hotkey: minerHotkey,
            stake: 0,
            validatorPermit: false,
            active: true,
            axon: { ip: '127.0.0.1', port, protocol: AxonProtocol.bittensorHttp, version: 1 },
          },
        ],
      }),
    );
    const config = loadValidatorConfig({
      NATS_URL: process.env.NATS_URL,
      REDIS_URL: process.env.REDIS_URL,
      NETUID: String(netuid),
      HOTKEY_URI: validatorUri,
      WEIGHTS_INTERVAL_SECONDS: '0',
    });
    validator = await NestFactory.createApplicationContext(
      ValidatorModule.forRoot(config, await ValidatorIdentity.load(config.hotkey)),
      { logger: false, abortOnError: false },
    );
    await validator.init();
  }, 90_000);

  afterAll(async () => {
    await validator?.close();
    await nc?.drain();
    redis?.disconnect();
    await server?.stop();
  });

  it('streams the server’s answer to the user and records a score for it', async () => {
    const inbox = createInbox();
    const sub = nc.subscribe(inbox, { timeout: 30_000 });
    nc.publish(
      Subjects.chatCompletions,
      encodeJson({
        v: 1,
        jobId: 'btauth-plain',
        model: '*',
        messages: [{ role: 'user', content: 'ping over btauth' }],
        sampling: { maxTokens: 16, temperature: 0, stop: [], presencePenalty: 0, frequencyPenalty: 0 },
        n: 1,
        deadline: Date.now() + 30_000,
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
    const text = frames.flatMap((f) => (f.type === 'delta' ? [f.text] : [])).join('');
    expect(text).toBe('you said: ping over btauth');
    expect(frames.at(-1)).toMatchObject({ type: 'end', miner: { uid: 3 } });
    await expectEventually(async () =>
      expect(await redis.hget(`chattensor:validator:scores:${netuid}`, `3:${minerHotkey}`)).not.toBeNull(),
    );
  });

  it('is refused by the SDK’s check when ChatTensor-signed requests are replayed, stale, future, forged, misaddressed or tampered', async () => {
    const key = Keypair.fromUri(validatorUri);
    const body = Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }));
    const post = async (headers: Record<string, string>, payload = body) =>
      (
        await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: payload,
        })
      ).status;
    const sign = (extra: Partial<Parameters<typeof signBtAuth>[1]> = {}) =>
      signBtAuth(key, {
        method: 'POST',
        path: '/v1/chat/completions',
        body,
        receiver: minerHotkey,
        ...extra,
      });
    const once = sign();
    expect(await post(once)).toBe(200);
    expect(await post(once)).toBe(401);
    expect(await post(sign({ nonceNs: timeNs() - 11n * S }))).toBe(401);
    expect(await post(sign({ nonceNs: timeNs() + 60n * S }))).toBe(401);
    expect(await post({ ...sign(), 'X-Bittensor-Signature': Keypair.fromUri('//mallory').sign('x') })).toBe(
      401,
    );
    expect(await post(sign({ receiver: key.ss58Address }))).toBe(403);
    expect(
      await post(
        sign(),
        Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: 'y' }], max_tokens: 1 })),
      ),
    ).toBe(401);
  });
});
