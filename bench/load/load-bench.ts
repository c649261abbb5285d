/**
 * `npm run bench:load`: bursts of concurrent streams against the standalone
 * stack, and what the gateway and the validator add to each request's time
 * to first token.
 *
 * Starts the stack as `npm start` does (chain-indexer, MINERS miners, one
 * validator, the gateway, on NATS and Redis of its own on free ports; the
 * model in MODEL_DIR, by default models/default, generated when absent),
 * then for each level in LEVELS (default 100,200,300,500) opens that many
 * streams at once, each asking for MAX_TOKENS (default 16) tokens, and
 * counts them: ok (answer and [DONE]), refused (429/503 before the stream,
 * with Retry-After), error (anything else) and hung (no end within
 * HUNG_AFTER_MS, default 150 s). TTFT is the client's, from sending the
 * request to the first content delta. The added latency is per request: the
 * client's TTFT minus the miner's own TTFT for the same request id (the
 * miners log it at debug level with the job id as correlation id; with
 * several miners racing, the first one's), so the miner's queue and
 * prefill are not counted as the path's.
 *
 * First, SEQUENTIAL (default 50) streams one after the other give the
 * path's latency on an idle stack.
 *
 * Variables: LEVELS, MAX_TOKENS, MINERS (default 2), MODEL_DIR,
 * HUNG_AFTER_MS, PAUSE_MS (between levels, default 3000), SEQUENTIAL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, freePort, startStack, type Stack } from '../../scripts/stack/stack';

const LEVELS = (process.env.LEVELS ?? '100,200,300,500').split(',').map(Number);
const MAX_TOKENS = Number(process.env.MAX_TOKENS ?? 16);
const MINERS = Number(process.env.MINERS ?? 2);
const HUNG_AFTER_MS = Number(process.env.HUNG_AFTER_MS ?? 150_000);
const PAUSE_MS = Number(process.env.PAUSE_MS ?? 3000);
const SEQUENTIAL = Number(process.env.SEQUENTIAL ?? 50);

type Result =
  | { kind: 'ok'; id: string; ttftMs: number }
  | { kind: 'refused'; status: number; retryAfter: string | undefined }
  | { kind: 'error'; detail: string }
  | { kind: 'hung' };

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** One streamed request through the gateway, classified. */
function stream(url: URL, agent: Agent, body: string): Promise<Result> {
  return new Promise((resolve) => {
    const started = performance.now();
    let ttft = -1;
    let id = '';
    let settled = false;
    const finish = (result: Result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: '/v1/chat/completions',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        if (res.statusCode === 429 || res.statusCode === 503) {
          res.resume();
          finish({
            kind: 'refused',
            status: res.statusCode,
            retryAfter: res.headers['retry-after'],
          });
          return;
        }
        if (res.statusCode !== 200) {
          res.resume();
          finish({ kind: 'error', detail: `HTTP ${res.statusCode}` });
          return;
        }
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (data: string) => {
          buffer += data;
          if (!id) id = /"id":"(chatcmpl-[^"]+)"/.exec(buffer)?.[1] ?? '';
          if (ttft < 0 && /"delta":\{"content":"[^"]/.test(buffer)) ttft = performance.now() - started;
        });
        res.on('end', () => {
          if (buffer.includes('"error"'))
            finish({
              kind: 'error',
              detail: buffer.slice(buffer.indexOf('"error"'), buffer.indexOf('"error"') + 160),
            });
          else if (ttft < 0 || !buffer.endsWith('data: [DONE]\n\n'))
            finish({ kind: 'error', detail: 'stream ended without content' });
          else finish({ kind: 'ok', id, ttftMs: ttft });
        });
        res.on('error', (error) => finish({ kind: 'error', detail: error.message }));
      },
    );
    const timer = setTimeout(() => {
      finish({ kind: 'hung' });
      req.destroy();
    }, HUNG_AFTER_MS);
    req.on('error', (error) => finish({ kind: 'error', detail: error.message }));
    req.end(body);
  });
}

/** Sum and count of the validator's admission-queue wait histogram. */
async function queueWait(port: number): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    sum: value('chattensor_validator_request_queue_time_seconds_sum'),
    count: value('chattensor_validator_request_queue_time_seconds_count'),
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'chattensor-bench-load-'));
  /** The miners' own TTFT per job id (the first miner to produce a token). */
  const minerTtft = new Map<string, number>();
  let stack: Stack | undefined;
  try {
    const modelDir = process.env.MODEL_DIR ?? join(REPO_ROOT, 'models', 'default');
    process.stdout.write(`starting the stack (${MINERS} miners, model ${modelDir})…\n`);
    stack = await startStack({
      stateDir: join(dir, 'state'),
      modelDir,
      gatewayPort: await freePort(),
      miners: MINERS,
      ownInfra: true,
      env: { ANONYMOUS_REQUESTS_PER_MINUTE: '1000000', ANONYMOUS_TOKENS_PER_MINUTE: '1000000000' },
      minerEnv: { LOG_LEVEL: 'debug' },
      onLine: (name, line) => {
        if (name.startsWith('miner-') && line.includes('"first token"')) {
          const entry = JSON.parse(line) as { correlationId?: string; ttftMs?: number };
          if (entry.correlationId && entry.ttftMs !== undefined) {
            const known = minerTtft.get(entry.correlationId);
            if (known === undefined || entry.ttftMs < known) minerTtft.set(entry.correlationId, entry.ttftMs);
          }
        } else if (/"level":"(error|fatal)"/.test(line))
          process.stderr.write(`${name}: ${line.slice(0, 300)}\n`);
      },
    });
    const url = new URL(stack.gatewayUrl);
    const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
    const body = (i: number) =>
      JSON.stringify({
        model: 'chattensor',
        messages: [{ role: 'user', content: `Load test ${i}: say something.` }],
        max_tokens: MAX_TOKENS,
        stream: true,
      });
    // Warm-up: connections, JIT, the miners' first batches.
    await Promise.all(Array.from({ length: 8 }, (_, i) => stream(url, agent, body(i))));

    const rows: string[] = [];
    const levels: (number | 'sequential')[] = [...(SEQUENTIAL > 0 ? ['sequential' as const] : []), ...LEVELS];
    const validatorPort = stack.service('validator').httpPort;
    for (const level of levels) {
      const waitBefore = await queueWait(validatorPort);
      let results: Result[] = [];
      if (level === 'sequential') {
        for (let i = 0; i < SEQUENTIAL; i++) results.push(await stream(url, agent, body(i)));
      } else {
        results = await Promise.all(Array.from({ length: level }, (_, i) => stream(url, agent, body(i))));
      }
      const ok = results.filter((r): r is Extract<Result, { kind: 'ok' }> => r.kind === 'ok');
      const refused = results.filter((r) => r.kind === 'refused');
      const errors = results.filter((r): r is Extract<Result, { kind: 'error' }> => r.kind === 'error');
      const hung = results.filter((r) => r.kind === 'hung').length;
      const ttft = ok.map((r) => r.ttftMs);
      // The miners' lines may trail the client's stream by a moment.
      await new Promise((r) => setTimeout(r, 500));
      const added = ok.flatMap((r) => {
        const own = minerTtft.get(r.id);
        return own === undefined ? [] : [r.ttftMs - own];
      });
      const waitAfter = await queueWait(validatorPort);
      const meanWaitMs =
        waitAfter.count > waitBefore.count
          ? ((waitAfter.sum - waitBefore.sum) / (waitAfter.count - waitBefore.count)) * 1000
          : NaN;
      const f = (v: number) => (Number.isNaN(v) ? 'n/a' : v.toFixed(1));
      rows.push(
        `| ${level === 'sequential' ? `1 (${SEQUENTIAL} in a row)` : level} | ${ok.length} | ${refused.length} | ${errors.length} | ${hung} | ` +
          `${f(percentile(ttft, 50))} / ${f(percentile(ttft, 95))} / ${f(percentile(ttft, 99))} | ` +
          `${f(percentile(added, 50))} / ${f(percentile(added, 95))} / ${f(percentile(added, 99))} (${added.length} paired) | ${f(meanWaitMs)} |`,
      );
      process.stdout.write(`${rows.at(-1)}\n`);
      if (errors.length > 0) process.stderr.write(`first error: ${errors[0].detail}\n`);
      if (refused.length > 0)
        process.stderr.write(
          `refusals: ${refused
            .map((r) => (r.kind === 'refused' ? `${r.status} retry-after ${r.retryAfter}` : ''))
            .slice(0, 3)
            .join(', ')}\n`,
        );
      await new Promise((r) => setTimeout(r, PAUSE_MS));
    }
    agent.destroy();
    process.stdout.write(
      [
        '',
        `bench:load: ${MINERS} miners, ${MAX_TOKENS} tokens per stream, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), load average ${loadavg()[0].toFixed(2)}`,
        '| streams | ok | refused | error | hung | TTFT p50 / p95 / p99 (ms) | added by gateway + validator p50 / p95 / p99 (ms) | of which admission queue, mean (ms) |',
        '|---|---|---|---|---|---|---|---|',
        ...rows,
        '',
      ].join('\n'),
    );
  } finally {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
