/**
 * `npm run bench:gateway`: what the gateway and the validator add to a
 * miner's time to first token, and how many requests per second one gateway
 * process sustains.
 *
 * Starts the standalone stack (chain-indexer, one miner on the tiny model,
 * one validator querying one miner per request, one gateway) on private
 * NATS and Redis, then for 1, 50 and 200 concurrent streams measures TTFT
 * through the gateway's /v1/chat/completions and, at the same time and with
 * as many streams, calling the miner directly (signed like a validator):
 * paired this way both paths meet the same miner batches and queue, so the
 * difference of their percentiles is what the path adds (one stream: the two
 * paths take turns on the idle miner instead). Then a closed
 * loop of short requests against the gateway measures requests per second
 * and the gateway process's CPU time per request.
 *
 * Variables: ROUNDS (default 3), REQUESTS_PER_STREAM (default 4),
 * RPS_SECONDS (default 15), RPS_CONCURRENCY (default 64), MAX_TOKENS
 * (default 4), PIN_CPUS (true: give the miner half the cores of its own; for
 * a dedicated machine with four cores or more, where it keeps the path under
 * test from slowing the miner down; on a small or shared machine it starves
 * whichever side gets fewer cores).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keypair, initCrypto } from '@chattensor/bittensor';
import type { minerV1 } from '@chattensor/protocol';
import { freePort, startStack, type Stack } from '../../scripts/stack/stack';
import { SignedMinerClient } from './signed-miner-client';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const REQUESTS_PER_STREAM = Number(process.env.REQUESTS_PER_STREAM ?? 4);
const RPS_SECONDS = Number(process.env.RPS_SECONDS ?? 15);
const RPS_CONCURRENCY = Number(process.env.RPS_CONCURRENCY ?? 64);
const MAX_TOKENS = Number(process.env.MAX_TOKENS ?? 4);
const CONCURRENCIES = [1, 50, 200];
const PROMPT = 'Benchmark prompt: say something short.';
// The stack's validator hotkey: the miner's standalone allow-list admits it.
const CALLER_URI = '//chattensor/validator';

interface Sample {
  ttftMs: number[];
  errors: number;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function waitForPort(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const attempt = () => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () =>
        Date.now() > deadline ? reject(new Error(`nothing on port ${port}`)) : setTimeout(attempt, 50),
      );
    };
    attempt();
  });
}

async function startInfra(
  dir: string,
): Promise<{ natsUrl: string; redisUrl: string; children: ChildProcess[] }> {
  const natsPort = await freePort();
  const redisPort = await freePort();
  const children = [
    spawn('nats-server', ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', join(dir, 'nats')], {
      stdio: 'ignore',
    }),
    spawn(
      'redis-server',
      ['--bind', '127.0.0.1', '--port', String(redisPort), '--dir', dir, '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    ),
  ];
  await Promise.all([waitForPort(natsPort), waitForPort(redisPort)]);
  return { natsUrl: `nats://127.0.0.1:${natsPort}`, redisUrl: `redis://127.0.0.1:${redisPort}`, children };
}

/** One streamed chat completion through the gateway; resolves with the time to the first content delta. */
function gatewayStream(url: URL, agent: Agent, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let ttft = -1;
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
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`HTTP ${res.statusCode}`));
          return;
        }
        let buffer = '';
        let failed: string | undefined;
        res.setEncoding('utf8');
        res.on('data', (data: string) => {
          buffer += data;
          if (ttft < 0 && buffer.includes('"content":"') && /"delta":\{"content":"[^"]/.test(buffer))
            ttft = performance.now() - started;
          if (buffer.includes('"error"'))
            failed = buffer.slice(buffer.indexOf('"error"'), buffer.indexOf('"error"') + 200);
        });
        res.on('end', () => {
          if (failed) reject(new Error(failed));
          else if (ttft < 0 || !buffer.endsWith('data: [DONE]\n\n'))
            reject(new Error('stream ended without content'));
          else resolve(ttft);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function closedLoop(
  concurrency: number,
  perStream: number,
  call: () => Promise<number>,
): Promise<Sample> {
  const sample: Sample = { ttftMs: [], errors: 0 };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = 0; i < perStream; i++) {
        try {
          sample.ttftMs.push(await call());
        } catch (error) {
          if (sample.errors++ === 0) process.stderr.write(`first error: ${(error as Error).message}\n`);
        }
      }
    }),
  );
  return sample;
}

/**
 * Gives the miner cores of its own and everything else (gateway, validator,
 * NATS, Redis, this load generator) the rest, so that the path under test
 * cannot slow the miner down by taking its CPU: on a small machine that
 * contention, not the path's own latency, would dominate the difference.
 * Returns a description, or why it could not.
 */
function pinProcesses(minerPids: number[], otherPids: number[]): string {
  const cores = cpus().length;
  if (cores < 2) return 'not pinned (one core)';
  const minerCores = Math.max(1, Math.floor(cores / 2));
  const minerList = `${cores - minerCores}-${cores - 1}`;
  const otherList = `0-${cores - minerCores - 1}`;
  try {
    for (const pid of minerPids)
      execFileSync('taskset', ['-a', '-p', '-c', minerList, String(pid)], { stdio: 'ignore' });
    for (const pid of otherPids)
      execFileSync('taskset', ['-a', '-p', '-c', otherList, String(pid)], { stdio: 'ignore' });
    return `miner pinned to cores ${minerList}, everything else to cores ${otherList}`;
  } catch (error) {
    return `not pinned (taskset failed: ${(error as Error).message.split('\n')[0]})`;
  }
}

function cpuSeconds(pid: number): number {
  // utime + stime, in clock ticks (100 per second on Linux).
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'chattensor-bench-gateway-'));
  const infra = await startInfra(dir);
  let stack: Stack | undefined;
  try {
    await initCrypto();
    process.stdout.write('starting the stack (tiny model, 1 miner)…\n');
    stack = await startStack({
      stateDir: join(dir, 'state'),
      modelDir: join(dir, 'model'),
      modelPreset: 'tiny',
      gatewayPort: await freePort(),
      miners: 1,
      natsUrl: infra.natsUrl,
      redisUrl: infra.redisUrl,
      env: {
        LOG_LEVEL: 'warn',
        MINERS_PER_REQUEST: '1',
        MAX_CONCURRENT_JOBS: '10000',
        // Every stream in one continuous batch: at 200 streams a smaller batch would measure the miner's queue, not the path.
        MAX_BATCH_SIZE: '256',
        MAX_QUEUE: '10000',
        ANONYMOUS_REQUESTS_PER_MINUTE: '1000000',
        ANONYMOUS_TOKENS_PER_MINUTE: '1000000000',
      },
      onLine: (name, line) => {
        if (/"level":"(error|fatal)"/.test(line)) process.stderr.write(`${name}: ${line.slice(0, 300)}\n`);
      },
    });
    const url = new URL(stack.gatewayUrl);
    const minerService = stack.services.find((s) => s.name === 'miner-1')!;
    const gatewayPid = stack.services.find((s) => s.name === 'gateway')!.process.pid!;
    const pinning =
      process.env.PIN_CPUS !== 'true'
        ? 'processes not pinned'
        : pinProcesses(
            stack.services.filter((s) => s.name.startsWith('miner-')).map((s) => s.process.pid!),
            [
              ...stack.services.filter((s) => !s.name.startsWith('miner-')).map((s) => s.process.pid!),
              ...infra.children.map((c) => c.pid!),
              process.pid,
            ],
          );
    process.stdout.write(`${pinning}\n`);
    const miner = new SignedMinerClient(
      `127.0.0.1:${minerService.env.GRPC_PORT}`,
      Keypair.fromUri(CALLER_URI),
      stack.minerHotkeys[0],
    );
    const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
    const body = JSON.stringify({
      model: 'chattensor',
      stream: true,
      max_tokens: MAX_TOKENS,
      temperature: 0,
      messages: [{ role: 'user', content: PROMPT }],
    });
    const minerRequest = (): minerV1.GenerateRequest => ({
      requestId: `bench-${Math.random()}`,
      model: '',
      messages: [{ role: 'user', content: PROMPT }],
      sampling: {
        maxTokens: MAX_TOKENS,
        temperature: 0,
        topK: 0,
        stop: [],
        presencePenalty: 0,
        frequencyPenalty: 0,
        minP: 0,
        repetitionPenalty: 0,
      },
    });
    const direct = () => miner.generate(minerRequest()).then((r) => r.ttftMs);
    const viaGateway = () => gatewayStream(url, agent, body);

    // The metagraph must list the miner before the validator can pick it.
    for (let i = 0; ; i++) {
      try {
        await viaGateway();
        break;
      } catch (error) {
        if (i > 100) throw error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    // Warm-up of both paths (JIT, connections, miner batch shapes).
    await closedLoop(50, 4, direct);
    await closedLoop(50, 4, viaGateway);

    const rows: string[] = [];
    for (const concurrency of CONCURRENCIES) {
      const directSample: Sample = { ttftMs: [], errors: 0 };
      const gatewaySample: Sample = { ttftMs: [], errors: 0 };
      const perStream = concurrency === 1 ? REQUESTS_PER_STREAM * 25 : REQUESTS_PER_STREAM;
      for (let round = 0; round < ROUNDS; round++) {
        // Paired: under load both paths run at once against the same miner, so each sees the same batches and
        // queue, and the difference is what the gateway, NATS and the validator add, not a change in the miner's
        // load. A single stream has no load to share: paired, the later arrival would wait for the other's engine
        // step, so there the paths take turns on an idle miner.
        const [d, g] =
          concurrency === 1
            ? [await closedLoop(1, perStream, direct), await closedLoop(1, perStream, viaGateway)]
            : await Promise.all([
                closedLoop(concurrency, perStream, direct),
                closedLoop(concurrency, perStream, viaGateway),
              ]);
        directSample.ttftMs.push(...d.ttftMs);
        directSample.errors += d.errors;
        gatewaySample.ttftMs.push(...g.ttftMs);
        gatewaySample.errors += g.errors;
      }
      const d50 = percentile(directSample.ttftMs, 50);
      const d99 = percentile(directSample.ttftMs, 99);
      const g50 = percentile(gatewaySample.ttftMs, 50);
      const g99 = percentile(gatewaySample.ttftMs, 99);
      const row = `| ${concurrency} | ${directSample.ttftMs.length} | ${d50.toFixed(2)} | ${d99.toFixed(2)} | ${g50.toFixed(2)} | ${g99.toFixed(2)} | **${(g50 - d50).toFixed(2)}** | **${(g99 - d99).toFixed(2)}** | ${directSample.errors} / ${gatewaySample.errors} |`;
      rows.push(row);
      process.stdout.write(`${row}\n`);
    }

    process.stdout.write(
      `requests per second: ${RPS_CONCURRENCY} concurrent streams for ${RPS_SECONDS} s…\n`,
    );
    const cpuBefore = cpuSeconds(gatewayPid);
    const deadline = performance.now() + RPS_SECONDS * 1000;
    let completed = 0;
    let errors = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: RPS_CONCURRENCY }, async () => {
        while (performance.now() < deadline) {
          try {
            await viaGateway();
            completed++;
          } catch {
            errors++;
          }
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    const gatewayCpu = cpuSeconds(gatewayPid) - cpuBefore;
    const rps = completed / elapsed;
    miner.close();
    agent.destroy();

    process.stdout.write(
      [
        '',
        `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load average ${loadavg()[0].toFixed(1)} at the end, node ${process.version}; tiny model, max_tokens ${MAX_TOKENS}, ${ROUNDS} rounds (1 stream alternating, more paired); ${pinning}`,
        '',
        '| streams per path | requests per path | direct p50 ms | direct p99 ms | gateway p50 ms | gateway p99 ms | added p50 ms | added p99 ms | errors direct / gateway |',
        '|---:|---:|---:|---:|---:|---:|---:|---:|---|',
        ...rows,
        '',
        `throughput: ${rps.toFixed(0)} requests/s through one gateway (${completed} in ${elapsed.toFixed(1)} s, ${errors} errors, ${RPS_CONCURRENCY} concurrent streams, max_tokens ${MAX_TOKENS});`,
        `gateway process CPU: ${((gatewayCpu / completed) * 1000).toFixed(3)} ms per request (${((gatewayCpu / elapsed) * 100).toFixed(0)} % of one core), so one gateway core would sustain about ${(completed / gatewayCpu).toFixed(0)} requests/s`,
        '',
      ].join('\n'),
    );
  } finally {
    await stack?.stop();
    for (const child of infra.children) child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
