/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Redis } from 'ioredis';
import { InferenceEngine } from '@chattensor/inference';
import { freePort, startStack, type Stack } from '../../scripts/stack/stack';
import { expectEventually } from '../support/expect-eventually';

/**
 * The whole chat path with every service as its own process: gateway,
 * validator, two miners, chain-indexer, over real NATS and Redis, driven by
 * the official OpenAI client.
 */
describe('the standalone chat path, end to end', () => {
  let stack: Stack;
  let openai: OpenAI;
  /** The anonymous session cookie: an anonymous caller's conversations are its own. */
  let session: { cookie: string };
  let engine: InferenceEngine;
  let redis: Redis;
  const dir = mkdtempSync(join(tmpdir(), 'chattensor-e2e-'));
  const modelDir = join(dir, 'model');
  const logs: string[] = [];

  beforeAll(async () => {
    stack = await startStack({
      stateDir: join(dir, 'state'),
      modelDir,
      gatewayPort: await freePort(),
      miners: 2,
      natsUrl: process.env.NATS_URL,
      redisUrl: process.env.REDIS_URL,
      // A netuid of its own, so state left by other suites cannot interfere.
      netuid: 100 + Math.floor(Math.random() * 1000),
      onLine: (name, line) => logs.push(`${name}: ${line}`),
    });
    session = { cookie: (await fetch(`${stack.gatewayUrl}/v1/conversations`)).headers.get('set-cookie')!.split(';')[0] };
    openai = new OpenAI({ baseURL: `${stack.gatewayUrl}/v1`, apiKey: 'unused', maxRetries: 0, defaultHeaders: session });
    // The same model folder, loaded here, tells us what the miners must have produced.
    engine = await InferenceEngine.load(modelDir, { intraOpThreads: 1 });
    redis = new Redis(stack.redisUrl);
    // Both miners must be in the metagraph before we start counting on them.
    await expectEventually(async () => {
      const status = (await (await fetch(`${stack.gatewayUrl}/v1/status`)).json()) as { miners: unknown[] };
      expect(status.miners).toHaveLength(2);
    }, 90_000);
  }, 240_000);

  afterAll(async () => {
    // What each service really exports, for the check that dashboards and alerts only use real metrics.
    const artifacts = join(__dirname, '..', '.artifacts', 'metrics');
    mkdirSync(artifacts, { recursive: true });
    for (const service of stack?.services ?? []) {
      const body = await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)
        .then((response) => response.text())
        .catch(() => '');
      if (body) writeFileSync(join(artifacts, `${service.name.replace(/-\d+$/, '')}.txt`), body);
    }
    await stack?.stop();
    await engine?.close();
    redis?.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    const failed = expect.getState().assertionCalls !== expect.getState().numPassingAsserts;
    if (failed) process.stderr.write(`service logs:\n${logs.slice(-80).join('\n')}\n`);
  });

  async function greedyReference(prompt: string, maxTokens: number): Promise<string> {
    let text = '';
    for await (const chunk of engine.generate([{ role: 'user', content: prompt }], { maxTokens, temperature: 0 })) text += chunk.text;
    return text;
  }

  it('answers a plain request with the text the miners model generates, with usage', async () => {
    const prompt = 'Tell me about decentralised inference.';
    const completion = await openai.chat.completions.create({
      model: 'chattensor',
      messages: [{ role: 'user', content: prompt }],
      max_tokens: 12,
      temperature: 0,
    });
    const expected = await greedyReference(prompt, 12);
    expect(expected.length).toBeGreaterThan(0);
    expect(completion.choices[0].message.content).toBe(expected);
    expect(completion.object).toBe('chat.completion');
    expect(completion.usage?.completion_tokens).toBe(12);
    expect(completion.usage?.prompt_tokens).toBe(engine.countTokens([{ role: 'user', content: prompt }]));
    expect(completion.choices[0].finish_reason).toBe('length');
  });

  it('streams the same tokens as server-sent events ending with usage', async () => {
    const prompt = 'Stream me a few words.';
    const stream = await openai.chat.completions.create({
      model: 'chattensor',
      messages: [{ role: 'user', content: prompt }],
      max_tokens: 10,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.choices.length > 0) text += chunk.choices[0].delta.content ?? '';
      else usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(text).toBe(await greedyReference(prompt, 10));
    expect(usage?.completion_tokens).toBe(10);
  });

  it('stores a conversation and sends its history with the next turn', async () => {
    const created = (await (await fetch(`${stack.gatewayUrl}/v1/conversations`, { method: 'POST', headers: { 'content-type': 'application/json', ...session }, body: '{}' })).json()) as { id: string };
    const ask = (content: string) =>
      openai.chat.completions.create({
        model: 'chattensor',
        messages: [{ role: 'user', content }],
        max_tokens: 6,
        temperature: 0,
        // ChatTensor's extension, passed through by the client.
        ...({ conversation_id: created.id } as object),
      });
    const first = await ask('First question');
    const second = await ask('Second question');
    const stored = (await (await fetch(`${stack.gatewayUrl}/v1/conversations/${created.id}`, { headers: session })).json()) as {
      messages: { role: string; content: string; miner?: { uid: number } }[];
    };
    expect(stored.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'First question'],
      ['assistant', first.choices[0].message.content],
      ['user', 'Second question'],
      ['assistant', second.choices[0].message.content],
    ]);
    expect(stored.messages[1].miner?.uid).toEqual(expect.any(Number));
    // The second answer was generated from the whole history, not from the last turn alone.
    expect(second.usage?.prompt_tokens).toBeGreaterThan(first.usage!.prompt_tokens + 4);
  });

  it('keeps conversations, and the anonymous session that owns them, across a gateway restart', async () => {
    const created = (await (await fetch(`${stack.gatewayUrl}/v1/conversations`, { method: 'POST', headers: { 'content-type': 'application/json', ...session }, body: '{}' })).json()) as { id: string };
    await openai.chat.completions.create({ model: 'chattensor', messages: [{ role: 'user', content: 'Remember me' }], max_tokens: 4, ...({ conversation_id: created.id } as object) });
    await stack.restartService('gateway');
    const response = await fetch(`${stack.gatewayUrl}/v1/conversations/${created.id}`, { headers: session });
    const stored = (await response.json()) as { messages: { content: string }[] };
    expect({ status: response.status, first: stored.messages?.[0]?.content }).toEqual({ status: 200, first: 'Remember me' });
    expect(stored.messages).toHaveLength(2);
  }, 60_000);

  it('scores the miners that answered, in Redis', async () => {
    const netuidKeys = await redis.keys('chattensor:validator:scores:*');
    const scores = (await Promise.all(netuidKeys.map((k) => redis.hgetall(k)))).flatMap((h) => Object.entries(h));
    const ours = scores.filter(([field]) => stack.minerHotkeys.some((hotkey) => field.endsWith(`:${hotkey}`)));
    expect(ours.length).toBeGreaterThanOrEqual(1);
    expect(ours.every(([, score]) => Number(score) > 0)).toBe(true);
  });

  it('answers a prompt beyond the model context with 400 context_length_exceeded, not a retryable 503', async () => {
    const error = await openai.chat.completions
      .create({ model: 'chattensor', messages: [{ role: 'user', content: 'word '.repeat(3000) }], max_tokens: 4 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ status: 400, code: 'context_length_exceeded', type: 'invalid_request_error' });
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).headers?.get('retry-after') ?? null).toBeNull();
  });

  it('answers bad input with OpenAI error objects', async () => {
    const post = (body: string) =>
      fetch(`${stack.gatewayUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const invalidJson = await post('{"model":');
    expect(invalidJson.status).toBe(400);
    expect(await invalidJson.json()).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: expect.any(String) } });
    const missing = await post('{"model":"chattensor"}');
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { param: string } }).error.param).toBe('messages');
    const wrongType = await post('{"model":"chattensor","messages":[{"role":"wizard","content":"x"}]}');
    expect(((await wrongType.json()) as { error: { param: string } }).error.param).toBe('messages[0].role');
    const unknown = await fetch(`${stack.gatewayUrl}/v2/nothing`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    await expect(
      openai.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });
});
