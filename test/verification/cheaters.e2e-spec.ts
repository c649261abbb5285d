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
import { Keypair, initCrypto } from '@chattensor/bittensor';
import { InferenceEngine, Tokenizer, generateModel } from '@chattensor/inference';
import {
  Buckets,
  Subjects,
  chatFrameSchema,
  decodeJson,
  encodeJson,
  metagraphKey,
  metagraphSnapshotSchema,
  validatorScoresSchema,
  type ChatFrame,
  type MetagraphSnapshot,
} from '@chattensor/protocol';
import { readFileSync } from 'node:fs';
import { ChainIndexerModule } from '../../services/chain-indexer/src/app.module';
import { loadChainIndexerConfig } from '../../services/chain-indexer/src/config/chain-indexer.config';
import { MinerModule } from '../../services/miner/src/app.module';
import { loadMinerConfig } from '../../services/miner/src/config/miner.config';
import { MinerIdentity } from '../../services/miner/src/identity/miner-identity';
import { ValidatorModule } from '../../services/validator/src/app.module';
import { loadValidatorConfig } from '../../services/validator/src/config/validator.config';
import { ValidatorIdentity } from '../../services/validator/src/identity/validator-identity';
import { CheatingMiner, type CheatKind } from '../../scripts/cheating-miner/cheating-miner';
import { expectEventually } from '../support/expect-eventually';
import { provideInfra, type Infra } from '../support/infra';

/**
 * Synthetic answers each miner must have had verified before weights are
 * judged: the bounded number of rounds. A caught miner earns 0 while
 * excluded, so a score it earned before (the replayer's first, honest
 * answer) decays by (1 - SCORE_EMA_ALPHA) per round: 0.7^11 leaves it well
 * under 1 % of the honest miners' scores.
 */
const ROUNDS = 12;

// Failed verifications are logged as warnings by design; keep the test output to errors.
process.env.LOG_LEVEL ??= 'error';

/**
 * Honest miners (float32, int8 and 4-bit weights) beside five kinds of cheaters,
 * all over real NATS, Redis and gRPC with real onnxruntime engines on
 * generated models, and the real chain-indexer (standalone) recording the
 * weights the validator's leader sets. Only synthetic traffic runs until
 * every miner has answered ROUNDS verified questions; then the next weights
 * must give each cheater under 1 % and the honest miners the rest.
 */
describe('a validator among cheating miners', () => {
  let infra: Infra;
  const netuid = 40_000 + Math.floor(Math.random() * 10_000);
  const dir = mkdtempSync(join(tmpdir(), 'chattensor-cheaters-'));
  const modelDir = join(dir, 'model');
  const otherDir = join(dir, 'other');
  const validatorKey = Keypair.fromUri('//cheaters/validator');
  const apps: INestApplicationContext[] = [];
  const engines: InferenceEngine[] = [];
  const cheaters: CheatingMiner[] = [];
  const honest: { quantize: 'none' | 'int8' | 'int4'; hotkey: string }[] = [];
  let nc: NatsConnection;
  let redis: Redis;

  const start = async (module: Parameters<typeof NestFactory.createApplicationContext>[0]) => {
    const app = await NestFactory.createApplicationContext(module, { logger: false, abortOnError: false });
    await app.init();
    apps.push(app);
    return app;
  };

  const snapshot = async (): Promise<MetagraphSnapshot | undefined> => {
    const kv = await nc.jetstream().views.kv(Buckets.metagraph);
    const entry = await kv.get(metagraphKey(netuid));
    if (!entry || entry.value.length === 0) return undefined;
    const decoded = decodeJson(metagraphSnapshotSchema, entry.value);
    return decoded.ok ? decoded.value : undefined;
  };

  /** `<origin>:<outcome>[:<reason>]` → count, per hotkey, from the validator's verification ledger. */
  const ledger = async (): Promise<Map<string, Record<string, number>>> => {
    const raw = await redis.hgetall(`chattensor:validator:verification:${netuid}`);
    const out = new Map<string, Record<string, number>>();
    for (const [field, value] of Object.entries(raw)) {
      const [, hotkey, ...rest] = field.split(':');
      out.set(hotkey, { ...(out.get(hotkey) ?? {}), [rest.join(':')]: Number(value) });
    }
    return out;
  };
  const count = (entry: Record<string, number> | undefined, prefix: string) =>
    Object.entries(entry ?? {})
      .filter(([key]) => key.startsWith(prefix))
      .reduce((n, [, v]) => n + v, 0);

  beforeAll(async () => {
    // A NATS of its own: another suite's validator must not take this suite's jobs.
    infra = await provideInfra({ ownNats: true });
    await initCrypto();
    nc = await connect({ servers: infra.natsUrl });
    redis = new Redis(process.env.REDIS_URL!);
    await generateModel({ outDir: modelDir, preset: 'tiny', seed: 1 });
    // Another model under the same tokenizer: what a cheater would serve instead.
    await generateModel({ outDir: otherDir, preset: 'tiny', seed: 101 });
    await start(
      ChainIndexerModule.forRoot(
        loadChainIndexerConfig({
          NATS_URL: infra.natsUrl,
          REDIS_URL: process.env.REDIS_URL,
          NETUID: String(netuid),
          INDEXER_GRPC_PORT: '0',
          HTTP_PORT: '0',
        }),
      ),
    );
    for (const quantize of ['none', 'int8', 'int4'] as const) {
      const config = loadMinerConfig({
        NATS_URL: infra.natsUrl,
        NETUID: String(netuid),
        MODEL_DIR: modelDir,
        MINER_QUANTIZE: quantize,
        HOTKEY_URI: `//cheaters/honest-${quantize}`,
        GRPC_HOST: '127.0.0.1',
        GRPC_PORT: '0',
        ANNOUNCE_INTERVAL_MS: '1000',
        MINER_ALLOWED_HOTKEYS: validatorKey.ss58Address,
        INTRA_OP_THREADS: '1',
        MAX_BATCH_SIZE: '4',
      });
      const identity = await MinerIdentity.load(config.hotkey);
      await start(MinerModule.forRoot(config, identity));
      honest.push({ quantize, hotkey: identity.hotkey.ss58Address });
    }
    const tokenizer = Tokenizer.fromJson(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8'));
    const same = await InferenceEngine.load(modelDir, { intraOpThreads: 1, maxBatchSize: 4 });
    const other = await InferenceEngine.load(otherDir, { intraOpThreads: 1, maxBatchSize: 4 });
    engines.push(same, other);
    const kinds: CheatKind[] = ['random', 'other-model', 'text-mismatch', 'cut-short', 'replay'];
    for (const kind of kinds) {
      const cheater = new CheatingMiner(
        kind,
        Keypair.fromUri(`//cheaters/${kind}`),
        kind === 'other-model' ? other : same,
        tokenizer,
        same.modelName,
      );
      await cheater.start(nc, netuid);
      cheaters.push(cheater);
    }
    await expectEventually(async () => {
      const miners = (await snapshot())?.neurons.filter((n) => n.role === 'miner') ?? [];
      expect(miners).toHaveLength(honest.length + cheaters.length);
    }, 30_000);
    const validatorConfig = loadValidatorConfig({
      NATS_URL: infra.natsUrl,
      REDIS_URL: process.env.REDIS_URL,
      NETUID: String(netuid),
      HOTKEY_URI: '//cheaters/validator',
      HTTP_PORT: '0',
      REFERENCE_MODEL_DIR: modelDir,
      WEIGHTS_INTERVAL_SECONDS: '1',
      SYNTHETIC_TEMPO_SECONDS: '3',
      SYNTHETIC_PER_MINER: '2',
      SYNTHETIC_MAX_TOKENS: '24',
      SCORE_EMA_ALPHA: '0.3',
      MINERS_PER_REQUEST: '2',
    });
    await start(
      ValidatorModule.forRoot(validatorConfig, await ValidatorIdentity.load(validatorConfig.hotkey)),
    );
  }, 120_000);

  afterAll(async () => {
    for (const app of apps.reverse()) await app.close().catch(() => undefined);
    for (const cheater of cheaters) await cheater.stop();
    for (const engine of engines) await engine.close();
    await nc?.drain();
    await infra?.stop();
    redis?.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('catches every kind of cheater for the right reason and never flags an honest quantization', async () => {
    const expected: Record<CheatKind, RegExp> = {
      random: /not_top_token|outside_sampling_set|ignored_stop|implausible_logprob/,
      'other-model': /not_top_token|outside_sampling_set|implausible_logprob/,
      'text-mismatch': /text_mismatch/,
      'cut-short': /cut_short/,
      replay: /ignored_stop|cut_short|text_mismatch|not_top_token|outside_sampling_set|implausible_logprob/,
    };
    await expectEventually(
      async () => {
        const book = await ledger();
        for (const h of honest)
          expect(count(book.get(h.hotkey), 'synthetic:verified')).toBeGreaterThanOrEqual(ROUNDS);
        for (const c of cheaters) {
          const entry = book.get(c.keypair.ss58Address);
          expect({ kind: c.kind, failed: count(entry, 'synthetic:failed') >= ROUNDS - 1 }).toEqual({
            kind: c.kind,
            failed: true,
          });
        }
      },
      240_000,
      500,
    );
    const book = await ledger();
    for (const h of honest)
      expect({ quantize: h.quantize, failed: count(book.get(h.hotkey), 'synthetic:failed') }).toEqual({
        quantize: h.quantize,
        failed: 0,
      });
    for (const c of cheaters) {
      const reasons = Object.keys(book.get(c.keypair.ss58Address) ?? {}).filter((k) =>
        k.includes(':failed:'),
      );
      expect({ kind: c.kind, reasons: reasons.join(' ') }).toEqual({
        kind: c.kind,
        reasons: expect.stringMatching(expected[c.kind]),
      });
    }
  }, 300_000);

  it('sets weights that give each cheater under 1 % and the honest miners the rest', async () => {
    // Weights set after every miner has had its rounds.
    const after = Date.now();
    const weights = await expectEventually(
      async () => {
        const s = await snapshot();
        expect(s?.lastWeights?.at).toBeGreaterThan(after);
        return { snapshot: s!, weights: s!.lastWeights! };
      },
      60_000,
      200,
    );
    const uidOf = new Map(weights.snapshot.neurons.map((n) => [n.hotkey, n.uid]));
    const weightOf = (hotkey: string) => {
      const index = weights.weights.uids.indexOf(uidOf.get(hotkey)!);
      return index < 0 ? 0 : weights.weights.weights[index];
    };
    const total = weights.weights.weights.reduce((a, b) => a + b, 0);
    for (const c of cheaters)
      expect({ kind: c.kind, share: weightOf(c.keypair.ss58Address) / total < 0.01 }).toEqual({
        kind: c.kind,
        share: true,
      });
    const honestShare = honest.reduce((sum, h) => sum + weightOf(h.hotkey), 0) / total;
    expect(honestShare).toBeGreaterThan(0.95);
    for (const h of honest) expect(weightOf(h.hotkey) / total).toBeGreaterThan(0.2);
  }, 120_000);

  it("reports each miner's verification counts, exclusion and score history for the status page", async () => {
    const sub = nc.subscribe(Subjects.validatorScores(netuid), { max: 1, timeout: 30_000 });
    let report: ReturnType<typeof validatorScoresSchema.parse> | undefined;
    for await (const message of sub)
      report = validatorScoresSchema.parse(JSON.parse(new TextDecoder().decode(message.data)));
    const entry = (hotkey: string) => report!.miners.find((m) => m.hotkey === hotkey)!;
    for (const h of honest) {
      expect(entry(h.hotkey).verification).toMatchObject({ failed: {}, syntheticFailed: 0 });
      expect(entry(h.hotkey).verification!.syntheticVerified).toBeGreaterThanOrEqual(ROUNDS);
      expect(entry(h.hotkey).excludedUntil).toBeUndefined();
      expect(entry(h.hotkey).history!.length).toBeGreaterThanOrEqual(1);
    }
    for (const c of cheaters) {
      expect(entry(c.keypair.ss58Address).verification!.syntheticFailed).toBeGreaterThanOrEqual(ROUNDS - 1);
      expect(entry(c.keypair.ss58Address).excludedUntil).toBeGreaterThan(Date.now());
    }
  });

  it('sends user traffic only to the honest miners once the cheaters are caught', async () => {
    const honestKeys = new Set(honest.map((h) => h.hotkey));
    for (let i = 0; i < 6; i++) {
      const inbox = createInbox();
      const sub = nc.subscribe(inbox, { timeout: 30_000 });
      nc.publish(
        Subjects.chatCompletions,
        encodeJson({
          v: 1,
          jobId: `organic-${i}-${Math.random().toString(36).slice(2)}`,
          model: '*',
          messages: [{ role: 'user', content: `Question number ${i}: what is a harbour?` }],
          sampling: { maxTokens: 6, temperature: 0, stop: [], presencePenalty: 0, frequencyPenalty: 0 },
          n: 1,
          deadline: Date.now() + 30_000,
        }),
        { reply: inbox },
      );
      let end: ChatFrame | undefined;
      for await (const message of sub) {
        const decoded = decodeJson(chatFrameSchema, message.data);
        if (!decoded.ok) continue;
        if (decoded.value.type === 'end' || decoded.value.type === 'error') {
          end = decoded.value;
          break;
        }
      }
      sub.unsubscribe();
      expect(end?.type).toBe('end');
      if (end?.type === 'end') expect(honestKeys.has(end.miner.hotkey)).toBe(true);
    }
  }, 120_000);
});
