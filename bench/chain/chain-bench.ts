// `npm run bench:chain`: how long after a finalized block its metagraph
// snapshot is published, for a 256-uid subnet.
//
// Needs a Subtensor dev chain (SUBTENSOR_WS, e.g. the runtime under
// chopsticks; see docs/chain.md). Starts NATS and Redis on free ports unless
// NATS_URL / REDIS_URL are given, creates a subnet with 255 miners plus its
// validator, starts the built chain-indexer (CHAIN_MODE=subtensor) as a
// process, then for each of BENCH_BLOCKS blocks changes the stake (so the
// snapshot changes) and measures from the moment the bench sees the block
// finalized to the moment `chain.metagraph.<netuid>` carries that block.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from 'nats';
import { connectHarness, createSubnet, send, TAO } from './dev-chain';

const root = resolve(__dirname, '../../..');
const endpoint = process.env.SUBTENSOR_WS;
const blocks = Number(process.env.BENCH_BLOCKS ?? 20);
const uids = Number(process.env.BENCH_UIDS ?? 256);

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function startInfra(dir: string): Promise<{ natsUrl: string; redisUrl: string; children: ChildProcess[] }> {
  const children: ChildProcess[] = [];
  let natsUrl = process.env.NATS_URL;
  let redisUrl = process.env.REDIS_URL;
  if (!natsUrl) {
    const port = await freePort();
    children.push(spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(dir, 'nats')], { stdio: 'ignore' }));
    natsUrl = `nats://127.0.0.1:${port}`;
  }
  if (!redisUrl) {
    const port = await freePort();
    children.push(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir], { stdio: 'ignore' }));
    redisUrl = `redis://127.0.0.1:${port}`;
  }
  return { natsUrl, redisUrl, children };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function main(): Promise<void> {
  if (!endpoint) throw new Error('set SUBTENSOR_WS to a Subtensor dev chain (see docs/chain.md)');
  const dir = mkdtempSync(join(tmpdir(), 'chain-bench-'));
  const infra = await startInfra(dir);
  const h = await connectHarness(endpoint);
  let indexer: ChildProcess | undefined;
  try {
    const t0 = Date.now();
    const subnet = await createSubnet(h, { miners: uids - 1, tempo: 360, tag: `bench-${Date.now()}` });
    const n = (await h.api.query.subtensorModule.subnetworkN(subnet.netuid)).toString();
    console.log(`subnet ${subnet.netuid} with ${n} uids set up in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    const nc = await connect({ servers: infra.natsUrl });
    const publishedAt = new Map<number, number>();
    nc.subscribe(`chain.metagraph.${subnet.netuid}`, {
      callback: (_error, message) => {
        const snapshot = JSON.parse(new TextDecoder().decode(message.data)) as { block: number; neurons: unknown[] };
        if (!publishedAt.has(snapshot.block)) publishedAt.set(snapshot.block, performance.now());
      },
    });
    const finalizedAt = new Map<number, number>();
    const unsubscribe = await h.api.rpc.chain.subscribeFinalizedHeads((header) => {
      const number = header.number.toNumber();
      if (!finalizedAt.has(number)) finalizedAt.set(number, performance.now());
    });

    indexer = spawn(process.execPath, [join(root, 'dist/services/chain-indexer/src/main.js')], {
      env: {
        ...process.env,
        CHAIN_MODE: 'subtensor',
        NETUID: String(subnet.netuid),
        SUBTENSOR_WS: endpoint,
        NATS_URL: infra.natsUrl,
        REDIS_URL: infra.redisUrl,
        HTTP_PORT: String(await freePort()),
        INDEXER_GRPC_PORT: String(await freePort()),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    // The first snapshot (the indexer's start) is not measured: it includes loading the metadata.
    const waitUntil = async (probe: () => boolean, ms: number, what: string) => {
      const deadline = Date.now() + ms;
      while (!probe()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitUntil(() => publishedAt.size > 0, 120_000, 'the first snapshot');

    const latencies: number[] = [];
    for (let i = 0; i < blocks; i++) {
      // A stake change makes the snapshot differ, so every block is published.
      await send(h.api, h.api.tx.subtensorModule.addStake(subnet.validator.address, subnet.netuid, TAO), subnet.owner);
      const head = (await h.api.rpc.chain.getHeader()).number.toNumber();
      await waitUntil(() => publishedAt.has(head) && finalizedAt.has(head), 30_000, `snapshot of block ${head}`);
      latencies.push(publishedAt.get(head)! - finalizedAt.get(head)!);
    }
    unsubscribe();
    await nc.drain();
    const sorted = [...latencies].sort((a, b) => a - b);
    const result = {
      uids: Number(n),
      blocks: latencies.length,
      p50_ms: Math.round(percentile(sorted, 0.5)),
      p95_ms: Math.round(percentile(sorted, 0.95)),
      max_ms: Math.round(sorted.at(-1)!),
      within_1s: latencies.filter((l) => l <= 1000).length,
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
    };
    console.log(JSON.stringify(result));
  } finally {
    indexer?.kill('SIGTERM');
    await h.close();
    for (const child of infra.children) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
