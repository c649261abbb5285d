import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { REPO_ROOT } from '../../scripts/stack/stack';
import { expectEventually } from '../support/expect-eventually';
import { dumpLogsOnFailure, scrapeMetric, startGatewayStack, type GatewayTestStack } from './gateway-stack';

const ADMIN_TOKEN = 'conformance-admin-token-0123456789';

/**
 * The gateway's public API driven by the official OpenAI client against the
 * whole stack (gateway, validator, two miners, chain-indexer as processes):
 * parameters, streaming, usage, the error objects and statuses, API keys and
 * limits, conversations and their ownership, backpressure and cancellation.
 */
describe('the gateway API, as the OpenAI client sees it', () => {
  let env: GatewayTestStack;
  let url: string;
  let anonymous: OpenAI;
  /** The anonymous caller's session cookie: its conversations are its own, as a browser's are. */
  let session: { cookie: string };

  beforeAll(async () => {
    env = await startGatewayStack({
      redisDb: 13,
      miners: 2,
      env: {
        ADMIN_TOKEN,
        ANONYMOUS_REQUESTS_PER_MINUTE: '10000',
        ANONYMOUS_TOKENS_PER_MINUTE: '10000000',
        // One miner per answer, so that n = 2 is answered by two different miners.
        MINERS_PER_REQUEST: '1',
        // A validator saturated by two jobs and no admission queue, so that a third shows the overload answer.
        MAX_CONCURRENT_JOBS: '2',
        MAX_QUEUED_JOBS: '0',
      },
    });
    url = env.stack.gatewayUrl;
    session = { cookie: (await fetch(`${url}/v1/conversations`)).headers.get('set-cookie')!.split(';')[0] };
    anonymous = new OpenAI({
      baseURL: `${url}/v1`,
      apiKey: 'anything-but-a-chattensor-key',
      maxRetries: 0,
      defaultHeaders: session,
    });
  }, 180_000);

  afterAll(async () => {
    await env?.stop();
  });

  afterEach(() => dumpLogsOnFailure(env.logs));

  const ask = (client: OpenAI, params: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) =>
    client.chat.completions.create({
      model: 'chattensor',
      messages: [{ role: 'user', content: 'Hello there' }],
      max_tokens: 8,
      ...params,
    });

  async function createKey(body: object): Promise<{ id: string; key: string; hint: string }> {
    const res = await fetch(`${url}/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; key: string; hint: string };
  }

  const keyed = (key: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });

  /** A new stored conversation, owned by `key` or, without one, by the anonymous session. */
  async function createConversation(key?: string): Promise<string> {
    const res = await fetch(`${url}/v1/conversations`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(key ? { authorization: `Bearer ${key}` } : session),
      },
      body: '{}',
    });
    return ((await res.json()) as { id: string }).id;
  }

  describe('chat completions', () => {
    it('lists the served models and finds each one', async () => {
      const models = await anonymous.models.list();
      const ids = models.data.map((m) => m.id);
      expect(ids[0]).toBe('chattensor');
      expect(ids).toContain('chattensor/llama-tiny-fp32-seed42');
      expect((await anonymous.models.retrieve('chattensor')).object).toBe('model');
    });

    it('answers with usage, the finish reason and the miner that answered, honouring max_completion_tokens', async () => {
      const completion = await ask(anonymous, {
        max_tokens: undefined,
        max_completion_tokens: 7,
        temperature: 0,
      });
      expect(completion.object).toBe('chat.completion');
      expect(completion.id).toMatch(/^chatcmpl-/);
      expect(completion.choices).toHaveLength(1);
      expect(completion.choices[0].finish_reason).toBe('length');
      expect(completion.usage?.completion_tokens).toBe(7);
      expect(completion.usage!.prompt_tokens).toBeGreaterThan(0);
      expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + 7);
      const extension = (
        completion as unknown as {
          chattensor: { validator: string; miners: { uid: number; hotkey: string }[] };
        }
      ).chattensor;
      expect(extension.validator).toBe(env.stack.validatorHotkey);
      expect(env.stack.minerHotkeys).toContain(extension.miners[0].hotkey);
    });

    it('accepts system, assistant and text-part messages and every sampling parameter', async () => {
      const completion = await anonymous.chat.completions.create({
        model: 'chattensor',
        messages: [
          { role: 'system', content: 'You are terse.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Hi ' },
              { type: 'text', text: 'again' },
            ],
          },
          { role: 'assistant', content: 'Hello.' },
          { role: 'developer', content: 'Answer briefly.' },
          { role: 'user', content: 'And now?' },
        ],
        max_tokens: 5,
        temperature: 0.7,
        top_p: 0.9,
        seed: 7,
        presence_penalty: 0.5,
        frequency_penalty: 0.5,
        stop: ['\n\n\n'],
        user: 'conformance-suite',
      });
      expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
      expect(completion.usage?.completion_tokens).toBeLessThanOrEqual(5);
    });

    it('gives the same answer for the same seed, and stops at a stop sequence', async () => {
      const first = await ask(anonymous, { temperature: 1, seed: 1234, max_tokens: 16 });
      const second = await ask(anonymous, { temperature: 1, seed: 1234, max_tokens: 16 });
      expect(second.choices[0].message.content).toBe(first.choices[0].message.content);

      const greedy = (await ask(anonymous, { temperature: 0, max_tokens: 24 })).choices[0].message.content!;
      const stop = greedy.slice(8, 11);
      const stopped = await ask(anonymous, { temperature: 0, max_tokens: 24, stop });
      expect(stopped.choices[0].finish_reason).toBe('stop');
      expect(stopped.choices[0].message.content).toBe(greedy.slice(0, greedy.indexOf(stop)));
    });

    it('streams chunks, then one usage chunk with no choices, then [DONE]', async () => {
      const stream = await anonymous.chat.completions.create({
        model: 'chattensor',
        messages: [{ role: 'user', content: 'Stream please' }],
        max_tokens: 12,
        // Greedy: the generated model then answers this prompt the same way on every run.
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks: OpenAI.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      const usageChunk = chunks.at(-1)!;
      expect(usageChunk.choices).toEqual([]);
      const usage = usageChunk.usage!;
      expect(usage.completion_tokens).toBeGreaterThan(0);
      expect(usage.completion_tokens).toBeLessThanOrEqual(12);
      expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
      expect(chunks.slice(0, -1).every((c) => c.usage === undefined && c.choices.length === 1)).toBe(true);
      expect(chunks[0].choices[0].delta.role).toBe('assistant');
      // The random tiny model may emit its end-of-turn token before the limit.
      // Fewer tokens than the limit can only mean a stop; the limit itself may be reached
      // by the end-of-turn token (counted in usage), which is a stop too.
      if (usage.completion_tokens < 12) expect(chunks.at(-2)!.choices[0].finish_reason).toBe('stop');
      else expect(['length', 'stop']).toContain(chunks.at(-2)!.choices[0].finish_reason);
      expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBeGreaterThan(3);
      expect(new Set(chunks.map((c) => c.id)).size).toBe(1);

      // On the wire, [DONE] closes the stream right after the usage chunk.
      const raw = await (
        await fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'chattensor',
            messages: [{ role: 'user', content: 'x' }],
            max_tokens: 3,
            stream: true,
            stream_options: { include_usage: true },
          }),
        })
      ).text();
      const events = raw.trim().split('\n\n');
      expect(events.at(-1)).toBe('data: [DONE]');
      expect(JSON.parse(events.at(-2)!.slice(6))).toMatchObject({
        choices: [],
        usage: { completion_tokens: 3 },
      });
    });

    it('answers n = 2 with two choices from two different miners, usage summed', async () => {
      const completion = await ask(anonymous, { n: 2, max_tokens: 6 });
      expect(completion.choices.map((c) => c.index)).toEqual([0, 1]);
      expect(completion.usage?.completion_tokens).toBe(12);
      const miners = (completion as unknown as { chattensor: { miners: { uid: number }[] } }).chattensor
        .miners;
      expect(new Set(miners.map((m) => m.uid)).size).toBe(2);
    });
  });

  describe('errors', () => {
    it('names the offending parameter in a 400', async () => {
      const error = await ask(anonymous, { temperature: 5 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect(error).toMatchObject({ status: 400, param: 'temperature', type: 'invalid_request_error' });
      const tooMany = await ask(anonymous, { max_tokens: 1_000_000 }).catch((e: unknown) => e);
      expect(tooMany).toMatchObject({ status: 400, param: 'max_tokens' });
    });

    it('answers an unknown model with 404 model_not_found', async () => {
      await expect(ask(anonymous, { model: 'gpt-nothing' })).rejects.toMatchObject({
        status: 404,
        code: 'model_not_found',
        param: 'model',
      });
    });

    it('answers a body over the limit with 413 and the error object', async () => {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'chattensor',
          messages: [{ role: 'user', content: 'x'.repeat(1_100_000) }],
        }),
      });
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({
        error: {
          message: expect.any(String),
          type: 'invalid_request_error',
          param: null,
          code: 'payload_too_large',
        },
      });
    });

    it('answers a wrong or revoked key with 401', async () => {
      const wrong = await ask(keyed('ct-' + 'A'.repeat(43))).catch((e: unknown) => e);
      expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(wrong).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'authentication_error' });
    });
  });

  describe('API keys and limits', () => {
    it('creates, lists and revokes keys through the admin API, which needs the admin token', async () => {
      const created = await createKey({
        name: 'conformance',
        requests_per_minute: 100,
        tokens_per_minute: 100_000,
      });
      expect(created.key).toMatch(/^ct-[\w-]{43}$/);
      await expect(ask(keyed(created.key))).resolves.toMatchObject({ object: 'chat.completion' });

      const listed = (await (
        await fetch(`${url}/admin/keys`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
      ).json()) as { data: object[] };
      expect(listed.data).toContainEqual(
        expect.objectContaining({
          id: created.id,
          name: 'conformance',
          hint: created.hint,
          requests_per_minute: 100,
        }),
      );
      // The listing never contains a key.
      expect(JSON.stringify(listed)).not.toContain(created.key);

      const forbidden = await fetch(`${url}/admin/keys`, {
        headers: { authorization: 'Bearer not-the-admin-token' },
      });
      expect(forbidden.status).toBe(401);

      const revoked = await fetch(`${url}/admin/keys/${created.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(revoked.status).toBe(200);
      await expect(ask(keyed(created.key))).rejects.toMatchObject({ status: 401 });
    });

    it('creates a key with the admin command, stored only as its SHA-256', async () => {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          join(REPO_ROOT, 'dist/services/gateway/src/cli/api-keys.js'),
          'create',
          'from-cli',
          '--rpm',
          '5',
          '--json',
        ],
        { env: { ...process.env, REDIS_URL: env.stack.redisUrl } },
      );
      const created = JSON.parse(stdout) as { id: string; key: string; requestsPerMinute: number };
      expect(created.requestsPerMinute).toBe(5);
      await expect(ask(keyed(created.key))).resolves.toMatchObject({ object: 'chat.completion' });
    });

    it('answers the request over a key’s requests per minute with 429 and Retry-After', async () => {
      const { key } = await createKey({ name: 'two-per-minute', requests_per_minute: 2 });
      const client = keyed(key);
      const first = await client.chat.completions
        .create({ model: 'chattensor', messages: [{ role: 'user', content: 'one' }], max_tokens: 2 })
        .withResponse();
      expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('2');
      expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('1');
      await ask(client, { max_tokens: 2 });
      const limited = await ask(client, { max_tokens: 2 }).catch((e: unknown) => e);
      expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
      expect(limited).toMatchObject({ status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' });
      expect(
        Number((limited as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after')),
      ).toBeGreaterThanOrEqual(1);
    });

    it('answers once a key’s tokens per minute are spent with 429', async () => {
      const { key } = await createKey({ name: 'few-tokens', tokens_per_minute: 60 });
      const client = keyed(key);
      // Each answer's real usage (its prompt and however many tokens it took) is charged after it; however
      // short the sampled answers are, the prompts alone empty the 60-token bucket within a few requests,
      // long before the key's requests per minute run out.
      let limited: unknown;
      const used: number[] = [];
      for (let i = 0; i < 20 && limited === undefined; i++) {
        await ask(client, { max_tokens: 40 }).then(
          (answer) => used.push(answer.usage?.total_tokens ?? 0),
          (error: unknown) => (limited = error),
        );
      }
      expect(limited).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
      expect((limited as Error).message).toContain('60 tokens per minute');
      expect(used.length).toBeGreaterThanOrEqual(1);
    });

    it('keeps conversations private to the key that owns them', async () => {
      const alice = await createKey({ name: 'alice' });
      const bob = await createKey({ name: 'bob' });
      const headers = (key: string) => ({
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
      });
      const conversationId = await createConversation(alice.key);
      await ask(keyed(alice.key), { ...({ conversation_id: conversationId } as object) });
      const own = (await (
        await fetch(`${url}/v1/conversations`, { headers: headers(alice.key) })
      ).json()) as { data: { id: string; title: string }[] };
      expect(own.data).toEqual([expect.objectContaining({ id: conversationId, title: 'Hello there' })]);
      expect(
        (
          (await (await fetch(`${url}/v1/conversations`, { headers: headers(bob.key) })).json()) as {
            data: unknown[];
          }
        ).data,
      ).toEqual([]);
      expect(
        (await fetch(`${url}/v1/conversations/${conversationId}`, { headers: headers(bob.key) })).status,
      ).toBe(404);
      expect((await fetch(`${url}/v1/conversations/${conversationId}`)).status).toBe(404);
      await expect(
        ask(keyed(bob.key), { ...({ conversation_id: conversationId } as object) }),
      ).rejects.toMatchObject({ status: 404 });
    });
  });

  describe('conversations', () => {
    it('sends the stored history with the next turn and records both exchanges in order', async () => {
      const id = await createConversation();
      const first = await ask(anonymous, {
        messages: [{ role: 'user', content: 'First question' }],
        ...({ conversation_id: id } as object),
      });
      const second = await ask(anonymous, {
        messages: [{ role: 'user', content: 'Second question' }],
        ...({ conversation_id: id } as object),
      });
      expect(second.usage!.prompt_tokens).toBeGreaterThan(
        first.usage!.prompt_tokens + first.usage!.completion_tokens,
      );
      const stored = (await (await fetch(`${url}/v1/conversations/${id}`, { headers: session })).json()) as {
        messages: { role: string; content: string }[];
      };
      expect(stored.messages.map((m) => [m.role, m.content])).toEqual([
        ['user', 'First question'],
        ['assistant', first.choices[0].message.content],
        ['user', 'Second question'],
        ['assistant', second.choices[0].message.content],
      ]);
    });

    it('regenerates the last answer in place', async () => {
      const id = await createConversation();
      await ask(anonymous, { temperature: 1, seed: 1, ...({ conversation_id: id } as object) });
      const again = await ask(anonymous, {
        messages: [],
        temperature: 1,
        seed: 2,
        ...({ conversation_id: id, regenerate: true } as object),
      });
      const stored = (await (await fetch(`${url}/v1/conversations/${id}`, { headers: session })).json()) as {
        messages: { role: string; content: string }[];
      };
      expect(stored.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
      expect(stored.messages[1].content).toBe(again.choices[0].message.content);
    });
  });

  describe('backpressure and cancellation', () => {
    it('cancels the miner’s generation when the client goes away mid-stream, and keeps the question and the stopped answer', async () => {
      const miners = env.stack.services.filter((s) => s.name.startsWith('miner-'));
      const cancelled = () =>
        Promise.all(
          miners.map((m) => scrapeMetric(m.httpPort, 'chattensor_miner_requests_total{outcome="cancelled"}')),
        ).then((v) => v.reduce((a, b) => a + b, 0));
      const running = () =>
        Promise.all(
          miners.map((m) => scrapeMetric(m.httpPort, 'chattensor_miner_num_requests_running')),
        ).then((v) => v.reduce((a, b) => a + b, 0));
      const id = await createConversation();
      const before = await cancelled();
      const abort = new AbortController();
      const stream = await anonymous.chat.completions.create(
        {
          model: 'chattensor',
          messages: [{ role: 'user', content: 'Keep going' }],
          // Greedy decoding of this prompt runs to max_tokens with the tiny model: only a cancellation ends it early.
          temperature: 0,
          max_tokens: 900,
          stream: true,
          ...({ conversation_id: id } as object),
        },
        { signal: abort.signal },
      );
      let received = 0;
      let shown = '';
      try {
        for await (const chunk of stream) {
          const delta = chunk.choices[0]?.delta.content;
          if (!delta) continue;
          shown += delta;
          if (++received === 5) {
            abort.abort();
            break;
          }
        }
      } catch (error) {
        expect((error as Error).name).toMatch(/Abort/);
      }
      expect(received).toBe(5);
      // A finished generation counts as ok: only a cancelled one reaches this counter.
      await expectEventually(async () => {
        expect(await cancelled()).toBe(before + 1);
        expect(await running()).toBe(0);
      }, 5000);
      // The exchange is stored with the answer as far as it had streamed, marked as stopped
      // (frames already on their way when the client left may have added a little more).
      await expectEventually(async () => {
        const stored = (await (
          await fetch(`${url}/v1/conversations/${id}`, { headers: session })
        ).json()) as {
          messages: { role: string; content: string; stopped?: boolean }[];
        };
        expect(stored.messages.map((m) => [m.role, m.stopped ?? false])).toEqual([
          ['user', false],
          ['assistant', true],
        ]);
        expect(stored.messages[0].content).toBe('Keep going');
        expect(stored.messages[1].content.startsWith(shown)).toBe(true);
      }, 5000);
    });

    it('answers 429 at once, not after a timeout, when every validator is saturated', async () => {
      const validator = env.stack.services.find((s) => s.name === 'validator')!;
      await expectEventually(
        async () =>
          expect(await scrapeMetric(validator.httpPort, 'chattensor_validator_num_requests_running')).toBe(0),
        10_000,
      );
      const aborts = [new AbortController(), new AbortController()];
      const streams = await Promise.all(
        aborts.map((abort) =>
          anonymous.chat.completions.create(
            {
              model: 'chattensor',
              messages: [{ role: 'user', content: 'Keep going' }],
              temperature: 0,
              max_tokens: 900,
              stream: true,
            },
            { signal: abort.signal },
          ),
        ),
      );
      try {
        await expectEventually(
          async () =>
            expect(await scrapeMetric(validator.httpPort, 'chattensor_validator_num_requests_running')).toBe(
              2,
            ),
          5000,
        );
        const error = await ask(anonymous).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OpenAI.RateLimitError);
        // The validator's own refusal, not the gateway giving up on a validator that did not answer.
        expect(error).toMatchObject({ status: 429, code: 'overloaded', message: expect.stringMatching(/busy/) });
        expect(
          Number((error as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after')),
        ).toBeGreaterThanOrEqual(1);
      } finally {
        aborts.forEach((abort) => abort.abort());
        await Promise.allSettled(
          streams.map(async (s) => {
            for await (const _ of s) {
              /* drain until aborted */
            }
          }),
        );
      }
    });

    it('answers 503 at once, not after a timeout, when no validator is running, and recovers when one is back', async () => {
      await env.stack.stopService('validator');
      try {
        const error = await ask(anonymous).catch((e: unknown) => e);
        // NATS's no-responders status, not the accept timeout ("did not accept in time").
        expect(error).toMatchObject({
          status: 503,
          type: 'service_unavailable',
          message: expect.stringMatching(/No validator is available/),
        });
        expect(
          Number((error as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after')),
        ).toBeGreaterThanOrEqual(1);
      } finally {
        await env.stack.restartService('validator');
      }
      await expectEventually(
        async () => expect((await ask(anonymous)).object).toBe('chat.completion'),
        15_000,
        250,
      );
    }, 60_000);
  });

  describe('restarts and the anonymous switch', () => {
    it('keeps conversations across a gateway restart, and refuses anonymous callers once ANONYMOUS_ACCESS is false', async () => {
      const { key } = await createKey({ name: 'survivor' });
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      const id = await createConversation(key);
      const answer = await ask(keyed(key), {
        messages: [{ role: 'user', content: 'Remember me' }],
        ...({ conversation_id: id } as object),
      });

      env.stack.services.find((s) => s.name === 'gateway')!.env.ANONYMOUS_ACCESS = 'false';
      await env.stack.restartService('gateway');

      const stored = (await (await fetch(`${url}/v1/conversations/${id}`, { headers })).json()) as {
        messages: { content: string }[];
      };
      expect(stored.messages.map((m) => m.content)).toEqual([
        'Remember me',
        answer.choices[0].message.content,
      ]);

      const refused = await ask(anonymous).catch((e: unknown) => e);
      expect(refused).toMatchObject({ status: 401, type: 'authentication_error' });
      const noKey = await fetch(`${url}/v1/models`);
      expect(noKey.status).toBe(401);
      expect(((await noKey.json()) as { error: { message: string } }).error.message).toContain(
        "didn't provide an API key",
      );
      await expect(ask(keyed(key))).resolves.toMatchObject({ object: 'chat.completion' });
      // The web pages and the status stay public.
      expect((await fetch(`${url}/v1/status`)).status).toBe(200);
      expect((await fetch(`${url}/`)).status).toBe(200);
    }, 60_000);
  });
});
