import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { connect, createInbox, type NatsConnection } from 'nats';
import { generateModel } from '@chattensor/inference';
import {
  Subjects,
  chatFrameSchema,
  decodeJson,
  encodeJson,
  type ChatFrame,
  type ChatJob,
} from '@chattensor/protocol';
import { freePort, startStack, type Stack } from '../../scripts/stack/stack';
import { supervise, type Supervisor } from '../../scripts/stack/supervisor';
import { expectEventually } from '../support/expect-eventually';
import { scrapeMetric } from '../gateway/gateway-stack';

/** The gateway's whole-request deadline in this stack. */
const REQUEST_TIMEOUT_MS = 30_000;
/** A request still open this long after it was sent has hung: the gateway owed it an answer by then. */
const HUNG_AFTER_MS = REQUEST_TIMEOUT_MS + 15_000;
const ADMIN_TOKEN = 'chaos-admin-token-0123456789abcdef';

type Outcome =
  { kind: 'ok'; text: string } | { kind: 'error'; status?: number; message: string } | { kind: 'hung' };

interface StatusMiner {
  uid: number;
  hotkey: string;
  active: boolean;
}

/**
 * The standalone cluster as real processes on loopback (its own NATS and
 * Redis, two miners, two validators, chain-indexer, gateway), kept running by
 * the `npm start` supervisor while its parts are killed: every request ends
 * (answered, or refused with a status) before its deadline, and nothing
 * stored is lost.
 */
describe('the cluster under failures', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chattensor-chaos-'));
  const logs: string[] = [];
  const said: string[] = [];
  let stack: Stack;
  let supervisor: Supervisor;
  let openai: OpenAI;
  let nc: NatsConnection;

  const minerName = (hotkey: string) => `miner-${stack.minerHotkeys.indexOf(hotkey) + 1}`;

  async function status(): Promise<{ miners: StatusMiner[]; last_weights: { at: number } | null }> {
    return (await (await fetch(`${stack.gatewayUrl}/v1/status`)).json()) as {
      miners: StatusMiner[];
      last_weights: { at: number } | null;
    };
  }

  async function activeMiners(): Promise<string[]> {
    return (await status()).miners.filter((m) => m.active).map((m) => m.hotkey);
  }

  /** A metric of one service, summed over its series; `series` may name labels: `name{stage="x"}`. */
  async function metric(service: string, series: string): Promise<number> {
    return scrapeMetric(stack.service(service).httpPort, series);
  }

  /** One streamed chat completion through the gateway, classified; `onText` sees the text so far. */
  async function stream(
    client: OpenAI,
    content: string,
    maxTokens: number,
    onText?: (text: string) => void,
  ): Promise<Outcome> {
    try {
      const chunks = await client.chat.completions.create(
        { model: 'chattensor', messages: [{ role: 'user', content }], max_tokens: maxTokens, stream: true },
        { signal: AbortSignal.timeout(HUNG_AFTER_MS) },
      );
      let text = '';
      let finished = false;
      for await (const chunk of chunks) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.choices[0]?.finish_reason) finished = true;
        onText?.(text);
      }
      return finished
        ? { kind: 'ok', text }
        : { kind: 'error', message: 'stream ended without a finish reason' };
    } catch (error) {
      if (error instanceof OpenAI.APIUserAbortError) return { kind: 'hung' };
      const apiError = error as { status?: number; message?: string };
      return { kind: 'error', status: apiError.status, message: apiError.message ?? String(error) };
    }
  }

  function tally(outcomes: Outcome[]): { ok: number; error: number; hung: number } {
    return {
      ok: outcomes.filter((o) => o.kind === 'ok').length,
      error: outcomes.filter((o) => o.kind === 'error').length,
      hung: outcomes.filter((o) => o.kind === 'hung').length,
    };
  }

  async function bothMinersServing(): Promise<void> {
    await expectEventually(
      async () => expect((await activeMiners()).sort()).toEqual([...stack.minerHotkeys].sort()),
      60_000,
      250,
    );
  }

  beforeAll(async () => {
    const modelDir = join(dir, 'model');
    await generateModel({ outDir: modelDir, preset: 'tiny' });
    stack = await startStack({
      stateDir: join(dir, 'state'),
      modelDir,
      gatewayPort: await freePort(),
      miners: 2,
      validators: 2,
      ownInfra: true,
      netuid: 3000 + Math.floor(Math.random() * 60_000),
      env: {
        ADMIN_TOKEN,
        ANONYMOUS_REQUESTS_PER_MINUTE: '100000',
        ANONYMOUS_TOKENS_PER_MINUTE: '100000000',
        REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        IDLE_TIMEOUT_MS: '15000',
      },
      // A short weights round, so that the lease (three rounds, at least 10 s) is short too.
      validatorEnv: { WEIGHTS_INTERVAL_SECONDS: '2' },
      onLine: (name, line) => {
        logs.push(`${name}: ${line}`);
        if (logs.length > 20_000) logs.splice(0, logs.length - 20_000);
      },
    });
    supervisor = supervise(stack, { say: (line) => said.push(line) });
    openai = new OpenAI({ baseURL: `${stack.gatewayUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
    nc = await connect({ servers: stack.natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    await bothMinersServing();
  }, 180_000);

  afterAll(async () => {
    // Every line of every process, and what the supervisor said, for a failure's post-mortem.
    const artifacts = join(__dirname, '..', '.artifacts');
    mkdirSync(artifacts, { recursive: true });
    writeFileSync(join(artifacts, 'chaos-logs.txt'), [...said.map((l) => `supervisor: ${l}`), ...logs].join('\n'));
    supervisor?.stop();
    await nc?.close();
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('continues an answer on the other miner when its miner dies mid-answer, as one stream', async () => {
    // The kill must land while the answer is still being written; a miner that was faster than the kill is retried.
    for (let attempt = 1; ; attempt++) {
      await bothMinersServing();
      const job: ChatJob = {
        v: 1,
        jobId: `chaos-${attempt}-${Date.now()}`,
        model: '*',
        messages: [{ role: 'user', content: 'hi' }],
        sampling: { maxTokens: 900, temperature: 0, stop: [], presencePenalty: 0, frequencyPenalty: 0 },
        n: 1,
        deadline: Date.now() + REQUEST_TIMEOUT_MS,
      };
      const inbox = createInbox();
      const sub = nc.subscribe(inbox, { timeout: HUNG_AFTER_MS });
      let victim: string | undefined;
      try {
        nc.publish(Subjects.chatCompletions, encodeJson(job), { reply: inbox });
        const frames: ChatFrame[] = [];
        for await (const message of sub) {
          const decoded = decodeJson(chatFrameSchema, message.data);
          if (!decoded.ok) continue;
          const frame = decoded.value;
          frames.push(frame);
          if (frame.type === 'delta' && !victim) {
            victim = minerName(frame.miner.hotkey);
            // Frozen at once, then killed: not one more token from it.
            stack.service(victim).process.kill('SIGSTOP');
            supervisor.pause(victim);
            await stack.killService(victim, 'SIGKILL');
          }
          if (frame.type === 'end' || frame.type === 'error') break;
        }
        sub.unsubscribe();
        const end = frames.at(-1)!;
        const deltas = frames.filter((f): f is Extract<ChatFrame, { type: 'delta' }> => f.type === 'delta');
        expect(end.type).toBe('end');
        const victimHotkey = stack.minerHotkeys[Number(victim!.split('-')[1]) - 1];
        if (end.type === 'end' && end.miner.hotkey === victimHotkey && attempt < 3) continue;
        // The client saw the first miner's tokens, then the other's, then one end: no error, no gap.
        expect(end).toMatchObject({ type: 'end', index: 0 });
        expect(end.type === 'end' && end.miner.hotkey).not.toBe(victimHotkey);
        const fromVictim = deltas.filter((d) => d.miner.hotkey === victimHotkey);
        const fromOther = deltas.filter((d) => d.miner.hotkey !== victimHotkey);
        expect(fromVictim.length).toBeGreaterThan(0);
        expect(fromOther.length).toBeGreaterThan(0);
        expect(deltas.indexOf(fromOther[0])).toBeGreaterThan(deltas.indexOf(fromVictim.at(-1)!));
        // Usage counts the tokens the client received from both miners (and none the dead one kept back).
        const streamedTokens = deltas.reduce((n, d) => n + d.tokens, 0);
        expect(end.type === 'end' && end.usage.completionTokens).toBeGreaterThanOrEqual(streamedTokens);
        expect(end.type === 'end' && end.usage.completionTokens).toBeLessThanOrEqual(job.sampling.maxTokens);
        expect(
          (await metric('validator', 'chattensor_validator_failovers_total{stage="mid_answer"}')) +
            (await metric('validator-2', 'chattensor_validator_failovers_total{stage="mid_answer"}')),
        ).toBeGreaterThanOrEqual(1);
        // The dead miner leaves the status page within seconds: the validator's failed call, not the announcement expiry.
        await expectEventually(
          async () => expect(await activeMiners()).not.toContain(victimHotkey),
          10_000,
          100,
        );
        break;
      } finally {
        if (victim) supervisor.resume(victim);
      }
    }
    await bothMinersServing();
  });

  it('completes all of 50 concurrent streams while a miner is killed (kill -9) among them', async () => {
    await bothMinersServing();
    let started = 0;
    const seen = new Set<number>();
    const victim = 'miner-2';
    let killed: Promise<void> | undefined;
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        stream(openai, `Question number ${i}: tell me something.`, 48, () => {
          if (!seen.has(i)) {
            seen.add(i);
            started++;
          }
          // Killed while most streams are running.
          if (started >= 10 && !killed) killed = stack.killService(victim, 'SIGKILL');
        }),
      ),
    );
    await killed;
    expect(killed).toBeDefined();
    expect(outcomes.filter((o) => o.kind !== 'ok')).toEqual([]);
    expect(tally(outcomes)).toEqual({ ok: 50, error: 0, hung: 0 });
    expect(outcomes.every((o) => o.kind === 'ok' && o.text.length > 0)).toBe(true);
    // The launcher's supervisor said what it did and brought the miner back.
    await expectEventually(
      () =>
        expect(said).toEqual(expect.arrayContaining([expect.stringMatching(/^miner-2 is running again$/)])),
      60_000,
      250,
    );
    expect(said).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^miner-2 exited \(signal SIGKILL\); restarting it in \d+ s/),
      ]),
    );
    await bothMinersServing();
  });

  it('ends every request in flight when NATS restarts, and serves again once it is back', async () => {
    await bothMinersServing();
    const before = (await status()).miners.map((m) => [m.uid, m.hotkey]);
    const inFlight = Array.from({ length: 8 }, (_, i) => stream(openai, `During the NATS restart ${i}`, 32));
    await stack.killService('nats', 'SIGKILL');
    const outcomes = await Promise.all(inFlight);
    // Answered, or refused with a status; never left open past the deadline.
    expect(outcomes.filter((o) => o.kind === 'hung')).toEqual([]);
    await expectEventually(() => expect(said).toContain('nats is running again'), 30_000, 250);
    await expectEventually(
      async () => expect(await stream(openai, 'After NATS is back', 8)).toMatchObject({ kind: 'ok' }),
      60_000,
      500,
    );
    // The metagraph lives in JetStream's file store: the same miners with the same uids.
    await expectEventually(
      async () => expect((await status()).miners.map((m) => [m.uid, m.hotkey])).toEqual(before),
      30_000,
      250,
    );
  });

  it('loses no conversation when Redis restarts from its append-only file', async () => {
    await bothMinersServing();
    const created = await fetch(`${stack.gatewayUrl}/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'chaos' }),
    });
    expect(created.status).toBe(201);
    const { key } = (await created.json()) as { key: string };
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const keyed = new OpenAI({ baseURL: `${stack.gatewayUrl}/v1`, apiKey: key, maxRetries: 0 });
    const conversations = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const response = await fetch(`${stack.gatewayUrl}/v1/conversations`, {
          method: 'POST',
          headers,
          body: '{}',
        });
        const { id } = (await response.json()) as { id: string };
        const answer = await keyed.chat.completions.create({
          model: 'chattensor',
          messages: [{ role: 'user', content: `Remember number ${i}` }],
          max_tokens: 6,
          ...({ conversation_id: id } as object),
        });
        return { id, question: `Remember number ${i}`, answer: answer.choices[0].message.content };
      }),
    );
    await stack.killService('redis', 'SIGTERM');
    await expectEventually(() => expect(said).toContain('redis is running again'), 30_000, 250);
    await expectEventually(
      async () => {
        for (const conversation of conversations) {
          const response = await fetch(`${stack.gatewayUrl}/v1/conversations/${conversation.id}`, {
            headers,
          });
          expect(response.status).toBe(200);
          const stored = (await response.json()) as { messages: { role: string; content: string }[] };
          expect(stored.messages.map((m) => [m.role, m.content])).toEqual([
            ['user', conversation.question],
            ['assistant', conversation.answer],
          ]);
        }
      },
      60_000,
      250,
    );
  });

  it('has the other validator set weights within the lease when the weight-setting one is killed', async () => {
    const names = ['validator', 'validator-2'];
    let leader: string | undefined;
    await expectEventually(
      async () => {
        for (const name of names)
          if ((await metric(name, 'chattensor_validator_is_leader')) === 1) leader = name;
        expect(leader).toBeDefined();
      },
      30_000,
      250,
    );
    const other = names.find((name) => name !== leader)!;
    supervisor.pause(leader!);
    const killedAt = Date.now();
    await stack.killService(leader!, 'SIGKILL');
    try {
      await expectEventually(
        async () => {
          expect(await metric(other, 'chattensor_validator_is_leader')).toBe(1);
          expect((await status()).last_weights?.at ?? 0).toBeGreaterThan(killedAt);
        },
        60_000,
        250,
      );
      // Chat keeps working on the remaining validator meanwhile.
      expect(await stream(openai, 'One validator left', 8)).toMatchObject({ kind: 'ok' });
    } finally {
      supervisor.resume(leader!);
    }
    await expectEventually(
      async () => expect(await metric(leader!, 'chattensor_validator_num_requests_running')).toBe(0),
      60_000,
      250,
    );
  });

  it('keeps serving while the chain-indexer restarts, with the same uids afterwards', async () => {
    await bothMinersServing();
    const before = (await status()).miners.map((m) => [m.uid, m.hotkey]);
    await stack.killService('chain-indexer', 'SIGKILL');
    // The validators and the gateway hold the last snapshot: chat goes on without the indexer.
    const outcomes = await Promise.all(
      Array.from({ length: 4 }, (_, i) => stream(openai, `No indexer ${i}`, 8)),
    );
    expect(tally(outcomes)).toEqual({ ok: 4, error: 0, hung: 0 });
    await expectEventually(
      () => expect(said).toEqual(expect.arrayContaining(['chain-indexer is running again'])),
      60_000,
      250,
    );
    await expectEventually(
      async () => expect((await status()).miners.map((m) => [m.uid, m.hotkey])).toEqual(before),
      30_000,
      250,
    );
    expect(await stream(openai, 'Indexer is back', 8)).toMatchObject({ kind: 'ok' });
  });
});
