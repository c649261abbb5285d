// `npm run bench:chain`: how long after a finalized block its metagraph
// snapshot is published, for a 256-uid subnet with weights and bonds
// (BENCH_WEIGHT_SETTERS validators, default 64, each weighting every miner,
// an epoch run so the chain holds their bonds).
//
// Needs a Subtensor dev chain (SUBTENSOR_WS, e.g. the runtime under
// chopsticks; see docs/chain.md). Starts NATS and Redis on free ports unless
// NATS_URL / REDIS_URL are given, creates a subnet with 255 miners plus its
// validator, starts the built chain-indexer (CHAIN_MODE=subtensor) as a
// process, then for each of BENCH_BLOCKS blocks changes the stake (so the
// snapshot changes) and measures from the moment the bench sees the block
// finalized to the moment `chain.metagraph.<netuid>` carries that block.
// Then it reports the indexer's own stage means (from its metrics) and times
// the same RPC calls made directly, without the indexer (BENCH_RAW_BLOCKS).
// BENCH_NETUID reuses a subnet an earlier run created on the same chain.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from 'nats';
import { WsProvider, type ApiPromise } from '@polkadot/api';
import { u8aToHex } from '@polkadot/util';
import type { KeyringPair } from '@polkadot/keyring/types';
import { connectHarness, createSubnet, runEpochs, send, sudo, TAO, type Harness } from './dev-chain';

const root = resolve(__dirname, '../../..');
const endpoint = process.env.SUBTENSOR_WS;
const blocks = Number(process.env.BENCH_BLOCKS ?? 20);
const uids = Number(process.env.BENCH_UIDS ?? 256);
const rawBlocks = Number(process.env.BENCH_RAW_BLOCKS ?? 10);
const weightSetters = Number(process.env.BENCH_WEIGHT_SETTERS ?? 64);

type Stages = Map<string, { sum: number; count: number }>;

/** Sums and counts of the indexer's `chattensor_chain_snapshot_stage_seconds` histogram. */
async function scrapeStages(httpPort: number): Promise<Stages> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const stages: Stages = new Map();
  // Default labels (service) may come before or after `stage`.
  const pattern = /^chattensor_chain_snapshot_stage_seconds_(sum|count)\{([^}]*)\} (\S+)$/gm;
  for (const match of text.matchAll(pattern)) {
    const stage = /stage="(\w+)"/.exec(match[2])?.[1];
    if (!stage) continue;
    const entry = stages.get(stage) ?? { sum: 0, count: 0 };
    entry[match[1] as 'sum' | 'count'] = Number(match[3]);
    stages.set(stage, entry);
  }
  return stages;
}

/** Mean ms per stage between two scrapes (so the first, start-up snapshot is left out). */
function stageMeans(before: Stages, after: Stages): Record<string, number> {
  const means: Record<string, number> = {};
  for (const [stage, { sum, count }] of after) {
    const earlier = before.get(stage) ?? { sum: 0, count: 0 };
    if (count > earlier.count)
      means[`${stage}_ms`] = Math.round(((sum - earlier.sum) / (count - earlier.count)) * 10_000) / 10;
  }
  return means;
}

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

async function startInfra(
  dir: string,
): Promise<{ natsUrl: string; redisUrl: string; children: ChildProcess[] }> {
  const children: ChildProcess[] = [];
  let natsUrl = process.env.NATS_URL;
  let redisUrl = process.env.REDIS_URL;
  if (!natsUrl) {
    const port = await freePort();
    children.push(
      spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(dir, 'nats')], {
        stdio: 'ignore',
      }),
    );
    natsUrl = `nats://127.0.0.1:${port}`;
  }
  if (!redisUrl) {
    const port = await freePort();
    children.push(
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir], {
        stdio: 'ignore',
      }),
    );
    redisUrl = `redis://127.0.0.1:${port}`;
  }
  return { natsUrl, redisUrl, children };
}

interface BenchSubnet {
  netuid: number;
  /** Signs the stake changes (the subnet owner, //Alice). */
  owner: KeyringPair;
  /** Hotkey of uid 0, whose stake changes every measured block. */
  validator: string;
}

/**
 * A new subnet of BENCH_UIDS uids whose first BENCH_WEIGHT_SETTERS uids hold
 * validator permits and have set weights on every other uid, with an epoch
 * run after (bonds); or, with BENCH_NETUID, the one an earlier run left.
 */
async function benchSubnet(h: Harness): Promise<BenchSubnet> {
  const reuse = process.env.BENCH_NETUID;
  if (reuse) {
    const netuid = Number(reuse);
    const validator = (await h.api.query.subtensorModule.keys(netuid, 0)).toString();
    return { netuid, owner: h.sudo, validator };
  }
  const created = await createSubnet(h, { miners: uids - 1, tempo: 10, tag: `bench-${Date.now()}` });
  const { api } = h;
  const { netuid } = created;
  const setters = created.miners.slice(0, Math.max(0, weightSetters - 1));
  // Stake on the first miners too, so that they earn permits and can set weights.
  for (let i = 0; i < setters.length; i += 32) {
    const stakes = setters
      .slice(i, i + 32)
      .map((m) => api.tx.subtensorModule.addStake(m.address, netuid, 100n * TAO));
    await send(api, api.tx.utility.batchAll(stakes), created.owner);
  }
  await sudo(h, api.tx.adminUtils.sudoSetMaxAllowedValidators(netuid, Math.max(weightSetters, 1)));
  await runEpochs(h, netuid, 1);
  const targets = Array.from({ length: uids }, (_, uid) => uid);
  for (const [i, setter] of [created.validator, ...setters].entries()) {
    // Every validator weights every uid, with its own (deterministic) pattern.
    const values = targets.map((uid) => 1 + ((uid * 7919 + i * 104_729) % 65_535));
    await send(api, api.tx.subtensorModule.setWeights(netuid, targets, values, 0), setter);
  }
  await runEpochs(h, netuid, 1);
  // A long tempo while measuring: an epoch would change every neuron at once.
  await sudo(h, api.tx.adminUtils.sudoSetTempo(netuid, 360));
  return { netuid, owner: created.owner, validator: created.validator.address };
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
    const subnet = await benchSubnet(h);
    const n = (await h.api.query.subtensorModule.subnetworkN(subnet.netuid)).toString();
    console.log(
      `subnet ${subnet.netuid} with ${n} uids set up in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );

    const nc = await connect({ servers: infra.natsUrl });
    const publishedAt = new Map<number, number>();
    let matrices = { weightRows: 0, weightEntries: 0, bondRows: 0, bondEntries: 0, bytes: 0 };
    nc.subscribe(`chain.metagraph.${subnet.netuid}`, {
      callback: (_error, message) => {
        const snapshot = JSON.parse(new TextDecoder().decode(message.data)) as {
          block: number;
          neurons: unknown[];
          weights?: { entries: unknown[] }[];
          bonds?: { entries: unknown[] }[];
        };
        if (!publishedAt.has(snapshot.block)) publishedAt.set(snapshot.block, performance.now());
        const count = (rows?: { entries: unknown[] }[]) =>
          (rows ?? []).reduce((n, r) => n + r.entries.length, 0);
        matrices = {
          weightRows: snapshot.weights?.length ?? 0,
          weightEntries: count(snapshot.weights),
          bondRows: snapshot.bonds?.length ?? 0,
          bondEntries: count(snapshot.bonds),
          bytes: message.data.length,
        };
      },
    });
    const finalizedAt = new Map<number, number>();
    const unsubscribe = await h.api.rpc.chain.subscribeFinalizedHeads((header) => {
      const number = header.number.toNumber();
      if (!finalizedAt.has(number)) finalizedAt.set(number, performance.now());
    });

    const httpPort = await freePort();
    indexer = spawn(process.execPath, [join(root, 'dist/services/chain-indexer/src/main.js')], {
      env: {
        ...process.env,
        CHAIN_MODE: 'subtensor',
        NETUID: String(subnet.netuid),
        SUBTENSOR_WS: endpoint,
        NATS_URL: infra.natsUrl,
        REDIS_URL: infra.redisUrl,
        HTTP_PORT: String(httpPort),
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
    const stagesBefore = await scrapeStages(httpPort);

    const latencies: number[] = [];
    for (let i = 0; i < blocks; i++) {
      // A stake change makes the snapshot differ, so every block is published.
      await send(
        h.api,
        h.api.tx.subtensorModule.addStake(subnet.validator, subnet.netuid, TAO),
        subnet.owner,
      );
      const head = (await h.api.rpc.chain.getHeader()).number.toNumber();
      await waitUntil(
        () => publishedAt.has(head) && finalizedAt.has(head),
        30_000,
        `snapshot of block ${head}`,
      );
      latencies.push(publishedAt.get(head)! - finalizedAt.get(head)!);
    }
    const stages = stageMeans(stagesBefore, await scrapeStages(httpPort));
    unsubscribe();
    await nc.drain();
    indexer.kill('SIGTERM');
    indexer = undefined;
    const raw = await rawCalls(h.api, subnet, rawBlocks);
    const sorted = [...latencies].sort((a, b) => a - b);
    const result = {
      uids: Number(n),
      blocks: latencies.length,
      snapshot: matrices,
      p50_ms: Math.round(percentile(sorted, 0.5)),
      p95_ms: Math.round(percentile(sorted, 0.95)),
      p99_ms: Math.round(percentile(sorted, 0.99)),
      max_ms: Math.round(sorted.at(-1)!),
      within_1s: latencies.filter((l) => l <= 1000).length,
      indexer_stage_means: stages,
      raw_calls: raw,
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

/**
 * The node's share, without the indexer: for fresh blocks (the same stake
 * change each), the requests the indexer's `get_metagraph` path sends
 * (hyperparameters and the weights and bonds rows included), made
 * directly over JSON-RPC and not decoded. `at_head`: all at once the moment
 * the block's finalized head is announced, as the indexer sends them (so the
 * node is as busy as the indexer finds it); then, once the node is idle, the
 * same batch again (`idle`) and the two runtime calls one at a time.
 */
async function rawCalls(api: ApiPromise, subnet: BenchSubnet, count: number) {
  if (count <= 0) return undefined;
  const provider = new WsProvider(endpoint, 2500, {}, 300_000);
  await provider.isReady;
  const rpc = (method: string, params: unknown[]) => provider.send<unknown>(method, params);
  const netuid = u8aToHex(api.registry.createType('u16', subnet.netuid).toU8a());
  const trustKey = api.query.subtensorModule.validatorTrust.key(subnet.netuid);
  const n = Number((await api.query.subtensorModule.subnetworkN(subnet.netuid)).toString());
  const rowKeys = (item: 'weights' | 'bonds') =>
    Array.from({ length: n }, (_, uid) => api.query.subtensorModule[item].key(subnet.netuid, uid));
  const [weightKeys, bondKeys] = [rowKeys('weights'), rowKeys('bonds')];
  const batch = (hash: string) =>
    Promise.all([
      rpc('state_getRuntimeVersion', [hash]),
      rpc('state_call', ['SubnetInfoRuntimeApi_get_metagraph', netuid, hash]),
      rpc('state_getStorage', [trustKey, hash]),
      rpc('state_call', ['SwapRuntimeApi_current_alpha_price', netuid, hash]),
      rpc('state_call', ['SubnetInfoRuntimeApi_get_subnet_hyperparams_v2', netuid, hash]),
      rpc('state_queryStorageAt', [weightKeys, hash]),
      rpc('state_queryStorageAt', [bondKeys, hash]),
    ]);
  const timed = async (fn: () => Promise<unknown>) => {
    const started = performance.now();
    await fn();
    return performance.now() - started;
  };
  const atHead = new Map<number, { hash: string; ms: Promise<number> }>();
  const unsubscribe = await api.rpc.chain.subscribeFinalizedHeads((header) => {
    const number = header.number.toNumber();
    const hash = header.hash.toHex();
    if (!atHead.has(number)) atHead.set(number, { hash, ms: timed(() => batch(hash)) });
  });
  const together: number[] = [];
  const idle: number[] = [];
  const metagraph: number[] = [];
  const price: number[] = [];
  const matrixReads: number[] = [];
  for (let i = 0; i < count; i++) {
    await send(api, api.tx.subtensorModule.addStake(subnet.validator, subnet.netuid, TAO), subnet.owner);
    const head = (await api.rpc.chain.getHeader()).number.toNumber();
    const deadline = Date.now() + 30_000;
    while (!atHead.has(head) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const entry = atHead.get(head);
    if (!entry) throw new Error(`no finalized head ${head}`);
    together.push(await entry.ms);
    idle.push(await timed(() => batch(entry.hash)));
    metagraph.push(
      await timed(() => rpc('state_call', ['SubnetInfoRuntimeApi_get_metagraph', netuid, entry.hash])),
    );
    price.push(
      await timed(() => rpc('state_call', ['SwapRuntimeApi_current_alpha_price', netuid, entry.hash])),
    );
    matrixReads.push(
      await timed(() =>
        Promise.all([
          rpc('state_queryStorageAt', [weightKeys, entry.hash]),
          rpc('state_queryStorageAt', [bondKeys, entry.hash]),
        ]),
      ),
    );
  }
  unsubscribe();
  await provider.disconnect();
  const p50 = (values: number[]) =>
    Math.round(
      percentile(
        [...values].sort((a, b) => a - b),
        0.5,
      ),
    );
  return {
    blocks: count,
    at_head_p50_ms: p50(together),
    idle_p50_ms: p50(idle),
    get_metagraph_p50_ms: p50(metagraph),
    current_alpha_price_p50_ms: p50(price),
    weights_and_bonds_p50_ms: p50(matrixReads),
  };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
