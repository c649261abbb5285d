import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import OpenAI from 'openai';
import type { z } from 'zod';
import { listening } from '../../scripts/stack/ports';
import {
  chatCompletionChunkSchema,
  chatCompletionSchema,
  conversationListSchema,
  conversationSchema,
  conversationWithMessagesSchema,
  errorSchema,
  modelListSchema,
  statusSchema,
} from '../../services/gateway/src/openapi/api.schemas';
import { expectEventually } from '../support/expect-eventually';
import { freePort } from '../support/infra';
import { dumpLogsOnFailure, scrapeMetric, startGatewayStack, type GatewayTestStack } from './gateway-stack';

const ADMIN_TOKEN = 'http-edge-admin-token-0123456789';

/** Response schemas as the document states them: no field more, none less. */
const exact = <T extends z.ZodType>(schema: T, body: unknown) => {
  const result = schema.safeParse(body);
  if (!result.success)
    throw new Error(
      `response does not match its documented schema: ${result.error.message}\n${JSON.stringify(body)}`,
    );
  return result.data;
};

/** One raw HTTP exchange, for what no well-behaved client sends (unknown methods, oversized request lines). */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('end', () => resolve(data));
    socket.on('error', (error) => (data ? resolve(data) : reject(error)));
    socket.write(request);
  });
}

/**
 * The HTTP edge of the gateway against the whole stack: statuses and OpenAI
 * error objects for what the framework and the parser refuse, numeric
 * parameters at the edge of what the miner protocol carries, the context
 * length checked with the model's own tokenizer before any miner is asked,
 * the rate-limit headers, a stream that cannot start, real responses against
 * the documented schemas, and a Redis outage (this file's own Redis).
 */
describe('the gateway at the HTTP edge', () => {
  let env: GatewayTestStack;
  let url: string;
  let port: number;
  let redis: ChildProcess;
  let client: OpenAI;

  beforeAll(async () => {
    const redisPort = await freePort();
    redis = spawn('redis-server', ['--port', String(redisPort), '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    await expectEventually(() => listening(redisPort).then((up) => expect(up).toBe(true)));
    env = await startGatewayStack({
      redisDb: 0,
      redisUrl: `redis://127.0.0.1:${redisPort}`,
      miners: 1,
      greedy: true,
      env: { ADMIN_TOKEN, ANONYMOUS_REQUESTS_PER_MINUTE: '10000', ANONYMOUS_TOKENS_PER_MINUTE: '100000000' },
    });
    url = env.stack.gatewayUrl;
    port = Number(new URL(url).port);
    client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'placeholder', maxRetries: 0 });
  }, 180_000);

  afterAll(async () => {
    await env?.stop();
    redis?.kill('SIGKILL');
  });

  afterEach(() => dumpLogsOnFailure(env.logs));

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  async function expectError(res: Response, status: number, code?: string) {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = exact(errorSchema, await res.json());
    if (code) expect(body.error.code).toBe(code);
    return body.error;
  }

  describe("the framework's own errors are OpenAI error objects", () => {
    it('answers a method a path is not served with 405 and Allow', async () => {
      const trace = await fetch(`${url}/v1/models`, { method: 'TRACE' }).catch(() => undefined);
      // fetch refuses to send TRACE; the raw exchange says the same.
      if (trace) await expectError(trace, 405, 'method_not_allowed');
      const raw = await rawRequest(port, 'TRACE /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(raw).toMatch(/^HTTP\/1\.1 405 /);
      expect(raw).toMatch(/\r\nallow: GET, HEAD\r\n/i);
      expect(raw).toContain('"code":"method_not_allowed"');
      const put = await fetch(`${url}/v1/chat/completions`, { method: 'PUT' });
      expect(put.headers.get('allow')).toBe('POST');
      await expectError(put, 405, 'method_not_allowed');
      const unknown = await rawRequest(port, 'FOO /v1/models HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(unknown).toMatch(/^HTTP\/1\.1 405 /);
      expect(JSON.parse(unknown.slice(unknown.indexOf('\r\n\r\n') + 4))).toMatchObject({
        error: { code: 'method_not_allowed' },
      });
    });

    it('answers an over-long URL with 414, oversized headers with 431, and a long path parameter like any unknown id', async () => {
      await expectError(await fetch(`${url}/v1/conversations/${'a'.repeat(9000)}`), 414, 'uri_too_long');
      const huge = await rawRequest(port, `GET /v1/models/${'m'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(huge).toMatch(/^HTTP\/1\.1 414 /);
      expect(huge).toContain('"type":"invalid_request_error"');
      const headers = await rawRequest(
        port,
        `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(20_000)}\r\n\r\n`,
      );
      expect(headers).toMatch(/^HTTP\/1\.1 431 /);
      await expectError(await fetch(`${url}/v1/conversations/${'a'.repeat(150)}`), 404, 'not_found');
    });

    it('answers malformed JSON, a null body and a body of the wrong type with 400', async () => {
      const malformed = await expectError(await post('/v1/chat/completions', '{"model": '), 400);
      expect(malformed.message).toMatch(/^We could not parse the JSON body of your request\./);
      await expectError(await post('/v1/conversations', 'null'), 400);
      await expectError(await post('/v1/conversations', '[]'), 400);
      await expectError(await post('/v1/conversations', '{"title": 5}'), 400);
      expect((await fetch(`${url}/v1/conversations`, { method: 'POST' })).status).toBe(201);
      await expectError(await post('/v1/chat/completions', 'null'), 400);
    });
  });

  describe('numbers at the edge of what the miner protocol carries', () => {
    it.each([
      ['top_p 1e-50', { top_p: 1e-50 }],
      ['top_p 0', { top_p: 0 }],
      ['temperature 1e-50', { temperature: 1e-50 }],
      ['penalties at their bounds', { presence_penalty: -2, frequency_penalty: 2 }],
      ['the largest seed', { seed: Number.MAX_SAFE_INTEGER }],
      ['an empty stop sequence', { stop: ['', 'zzz'] }],
    ])('answers a request with %s', async (_name, params) => {
      const res = await post(
        '/v1/chat/completions',
        JSON.stringify({
          model: 'chattensor',
          messages: [{ role: 'user', content: 'Hi' }],
          max_tokens: 3,
          ...params,
        }),
      );
      expect(res.status).toBe(200);
      exact(chatCompletionSchema, await res.json());
    });

    it('refuses what OpenAI refuses with 400 naming the parameter', async () => {
      for (const [param, value] of [
        ['top_p', 1.5],
        ['temperature', -0.1],
        ['max_tokens', 4097],
        ['seed', 2 ** 60],
        ['n', 0],
      ] as const) {
        const res = await post(
          '/v1/chat/completions',
          JSON.stringify({
            model: 'chattensor',
            messages: [{ role: 'user', content: 'Hi' }],
            [param]: value,
          }),
        );
        expect((await expectError(res, 400)).param).toBe(param);
      }
    });
  });

  describe('the context length', () => {
    const requests = () =>
      scrapeMetric(
        env.stack.services.find((s) => s.name === 'miner-1')!.httpPort,
        'chattensor_miner_requests_total',
      );

    it('refuses a prompt longer than the model’s context with 400 context_length_exceeded, before any miner is asked', async () => {
      const before = await requests();
      const long = 'lorem ipsum dolor sit amet '.repeat(400);
      const error = await client.chat.completions
        .create({ model: 'chattensor', messages: [{ role: 'user', content: long }] })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      const apiError = error as InstanceType<typeof OpenAI.BadRequestError>;
      expect(apiError.status).toBe(400);
      expect(apiError.code).toBe('context_length_exceeded');
      expect(apiError.param).toBe('messages');
      expect(apiError.type).toBe('invalid_request_error');
      expect(apiError.message).toMatch(
        /^400 This model's maximum context length is 1024 tokens\. However, your messages resulted in \d{4,} tokens\. Please reduce the length of the messages\.$/,
      );
      const streamed = await post(
        '/v1/chat/completions',
        JSON.stringify({ model: 'chattensor', stream: true, messages: [{ role: 'user', content: long }] }),
      );
      expect((await expectError(streamed, 400, 'context_length_exceeded')).param).toBe('messages');
      expect(await requests()).toBe(before);
    });

    it('refuses a prompt and an explicit answer length that do not fit together, and answers the same prompt without it', async () => {
      const messages = [{ role: 'user' as const, content: 'lorem ipsum '.repeat(60) }];
      const res = await post(
        '/v1/chat/completions',
        JSON.stringify({ model: 'chattensor', messages, max_tokens: 1000 }),
      );
      const error = await expectError(res, 400, 'context_length_exceeded');
      expect(error.message).toMatch(
        /^This model's maximum context length is 1024 tokens\. However, you requested (\d+) tokens \((\d+) in the messages, 1000 in the completion\)\. Please reduce the length of the messages or completion\.$/,
      );
      const answer = await client.chat.completions.create({ model: 'chattensor', messages, max_tokens: 2 });
      const [, total, prompt] = /requested (\d+) tokens \((\d+) in the messages/.exec(error.message)!;
      // The gateway counted the prompt exactly as the miner's engine does.
      expect(answer.usage?.prompt_tokens).toBe(Number(prompt));
      expect(Number(total)).toBe(Number(prompt) + 1000);
    });
  });

  describe('rate limits', () => {
    it('sends every x-ratelimit header on an answer and on a 429, with the reset times', async () => {
      const created = await fetch(`${url}/admin/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'edge', requests_per_minute: 1 }),
      });
      const { key } = (await created.json()) as { key: string };
      const ask = () =>
        post(
          '/v1/chat/completions',
          JSON.stringify({ model: 'chattensor', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 }),
          {
            authorization: `Bearer ${key}`,
          },
        );
      const names = [
        'limit-requests',
        'remaining-requests',
        'reset-requests',
        'limit-tokens',
        'remaining-tokens',
        'reset-tokens',
      ];
      const first = await ask();
      expect(first.status).toBe(200);
      for (const name of names) expect(first.headers.get(`x-ratelimit-${name}`)).not.toBeNull();
      expect(first.headers.get('x-ratelimit-limit-requests')).toBe('1');
      expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      const refused = await ask();
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      for (const name of names) expect(refused.headers.get(`x-ratelimit-${name}`)).not.toBeNull();
      expect(refused.headers.get('x-ratelimit-reset-requests')).toMatch(
        /^(\d+(\.\d+)?s|\d+m\d+(\.\d+)?s|\d+ms)$/,
      );
      await expectError(refused, 429, 'rate_limit_exceeded');
    });
  });

  describe('responses as documented', () => {
    it('answers chat, models, conversations and status with exactly the documented schemas', async () => {
      exact(modelListSchema, await (await fetch(`${url}/v1/models`)).json());
      exact(statusSchema, await (await fetch(`${url}/v1/status`)).json());
      const created = await post('/v1/conversations', '{"title":"t"}');
      // An anonymous caller's conversations belong to its session cookie.
      const cookie = created.headers.get('set-cookie')?.split(';')[0];
      const session: Record<string, string> = cookie ? { cookie } : {};
      const conversation = exact(conversationSchema, await created.json());
      const res = await post(
        '/v1/chat/completions',
        JSON.stringify({
          model: 'chattensor',
          conversation_id: conversation.id,
          messages: [{ role: 'user', content: 'Hi' }],
          max_tokens: 3,
        }),
        session,
      );
      expect(res.status).toBe(200);
      exact(chatCompletionSchema, await res.json());
      exact(
        conversationWithMessagesSchema,
        await (await fetch(`${url}/v1/conversations/${conversation.id}`, { headers: session })).json(),
      );
      exact(
        conversationListSchema,
        await (await fetch(`${url}/v1/conversations`, { headers: session })).json(),
      );
      const stream = await post(
        '/v1/chat/completions',
        JSON.stringify({
          model: 'chattensor',
          stream: true,
          stream_options: { include_usage: true },
          messages: [{ role: 'user', content: 'Hi' }],
          max_tokens: 3,
        }),
      );
      expect(stream.status).toBe(200);
      const events = (await stream.text()).trim().split('\n\n');
      expect(events.at(-1)).toBe('data: [DONE]');
      for (const event of events.slice(0, -1))
        exact(chatCompletionChunkSchema, JSON.parse(event.slice('data: '.length)));
    });
  });

  describe('failures', () => {
    it('gives a stream that cannot start its real status, not 200 and an in-band error', async () => {
      await env.stack.stopService('validator');
      try {
        const res = await post(
          '/v1/chat/completions',
          JSON.stringify({ model: 'chattensor', stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
        );
        await expectError(res, 503, 'unavailable');
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      } finally {
        await env.stack.restartService('validator');
      }
    });

    it('answers 503 with Retry-After, not 500, while Redis is down', async () => {
      redis.kill('SIGKILL');
      await expectEventually(async () => {
        const res = await fetch(`${url}/v1/conversations`);
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        await expectError(res, 503, 'unavailable');
      });
      const chat = await post(
        '/v1/chat/completions',
        JSON.stringify({ model: 'chattensor', messages: [{ role: 'user', content: 'Hi' }] }),
      );
      expect(chat.headers.get('retry-after')).toMatch(/^\d+$/);
      await expectError(chat, 503, 'unavailable');
    });
  });
});
