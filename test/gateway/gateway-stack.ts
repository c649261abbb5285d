import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { generateModel } from '@chattensor/inference';
import { freePort, startStack, type Stack } from '../../scripts/stack/stack';

export interface GatewayTestStack {
  stack: Stack;
  /** The last lines of every service, printed when a test fails. */
  logs: string[];
  stop(): Promise<void>;
}

/**
 * One whole standalone stack (chain-indexer, miners, validator, gateway as
 * processes) for one test file: its own state folder, ports and netuid, the
 * tiny model generated once into a scratch folder, NATS and Redis from the
 * jest global setup.
 */
export async function startGatewayStack(options: {
  miners: number;
  env?: Record<string, string>;
  /** A Redis database of the file's own, emptied first: conversations of other files stay out. */
  redisDb: number;
  /** A Redis of the file's own (e.g. one the file stops to test an outage) instead of the shared one. */
  redisUrl?: string;
  /** Greedy decoding by default (the model's generation_config.json), so every answer is the same on every run. */
  greedy?: boolean;
}): Promise<GatewayTestStack> {
  const dir = mkdtempSync(join(tmpdir(), 'chattensor-gateway-'));
  const logs: string[] = [];
  const redisUrl = `${(options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '')}/${options.redisDb}`;
  const redis = new Redis(redisUrl);
  await redis.flushdb();
  redis.disconnect();
  const modelDir = join(dir, 'model');
  await generateModel({ outDir: modelDir, preset: 'tiny' });
  if (options.greedy) {
    const file = join(modelDir, 'generation_config.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), do_sample: false }, null, 2));
  }
  const stack = await startStack({
    stateDir: join(dir, 'state'),
    modelDir,
    modelPreset: 'tiny',
    gatewayPort: await freePort(),
    miners: options.miners,
    natsUrl: process.env.NATS_URL,
    redisUrl,
    netuid: 2000 + Math.floor(Math.random() * 60_000),
    env: { CONTEXT_TOKENS: '1024', ...options.env },
    onLine: (name, line) => {
      logs.push(`${name}: ${line}`);
      if (logs.length > 400) logs.splice(0, logs.length - 400);
    },
  });
  // Every miner must be in the metagraph before a test counts on them (bounded generously: a busy machine is slow).
  const deadline = Date.now() + 90_000;
  for (;;) {
    const status = (await (await fetch(`${stack.gatewayUrl}/v1/status`)).json()) as {
      miners: { active: boolean }[];
      validator: unknown;
    };
    if (status.miners.filter((m) => m.active).length >= options.miners && status.validator) break;
    if (Date.now() > deadline)
      throw new Error(`the miners did not reach the metagraph:\n${logs.slice(-40).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    stack,
    logs,
    stop: async () => {
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Prints the services' last lines when the test that just ran failed. */
export function dumpLogsOnFailure(logs: string[]): void {
  const state = expect.getState();
  if (state.assertionCalls !== state.numPassingAsserts)
    process.stderr.write(`service logs:\n${logs.slice(-80).join('\n')}\n`);
}

/** One value of a Prometheus text exposition, e.g. metric('chattensor_miner_requests_total{outcome="cancelled"}'). */
export async function scrapeMetric(port: number, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const [name, labels] = series.includes('{')
    ? [series.slice(0, series.indexOf('{')), series.slice(series.indexOf('{') + 1, -1)]
    : [series, ''];
  const wanted = labels ? labels.split(',') : [];
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const match = /^([a-z_:]+)(?:\{(.*)\})?\s+(\S+)$/i.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[2] ?? '';
    if (wanted.every((label) => have.includes(label))) total += Number(match[3]);
  }
  return total;
}
