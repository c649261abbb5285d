/**
 * `npm run bench:validator`: what answer verification costs on the default
 * model, and (`--tolerances`) how its tolerances were chosen.
 *
 * 1. Cost: the engine answers QUESTIONS synthetic questions; the reference
 *    verifies every answer. Reported per verification pass: process CPU
 *    time (all threads) per 100 answer tokens and per answer, against peers
 *    measured in the same run on the same tokens: the engine's own prefill
 *    (one plain forward pass over prompt + answer) and llama.cpp's prefill
 *    (llama-cpp-python on the GGUF, where .venv-llama exists). Then answers
 *    verified per second by one replica and what verifying every synthetic
 *    answer and the answers to 10 % of organic requests cost at 10 chat
 *    requests per second, with one and with two miners per request.
 * 2. Tolerances (`--tolerances`, or TOLERANCES=1): honest miners on every
 *    honest form of the default model (the Q4_1 import the reference is, a
 *    float32 form dequantised from the GGUF by llama.cpp, int8 and int4 weights
 *    of that float form, a Q4_0 requantized by llama.cpp, and llama.cpp itself
 *    on the Q4_1, float32 and requantized Q4_0, Q8_0 and Q4_K_M GGUFs) answer
 *    the validator's synthetic questions; so do cheaters (random tokens,
 *    another model's text, truncated answers, answers replayed to other
 *    questions). Reported: the largest and smallest per-answer statistic of
 *    every check, and how many answers the tolerances in force pass.
 *
 * Variables: MODEL_DIR (default models/smollm2-135m-instruct; `npm run
 * model:fetch` brings it), GGUF (default models/gguf/<its GGUF>), QUESTIONS
 * (default 24 for the cost, 48 for the tolerances), VERIFY_THREADS (default 1),
 * REFERENCE_QUANTIZE (none or int8), VERIFY_PROMPT_CACHE_MB (default 64),
 * LLAMA_PYTHON (default .venv-llama/bin/python; the llama.cpp rows are left
 * out without it), and the tolerances as the validator reads them
 * (VERIFY_GREEDY_LOGIT_GAP, ...).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import {
  DecoderSession,
  InferenceEngine,
  ReferenceModel,
  defaultModelPaths,
  emptyKvCache,
  generateModel,
  importGguf,
  readModelFolder,
  verifyCompletion,
  type ChatTurn,
  type ReturnedAnswer,
  type SamplingOptions,
  type Tolerances,
} from '@chattensor/inference';
import { DEFAULT_TOLERANCES, QuestionBank, requestSampling, seededRandom } from '@chattensor/scoring';
import { llamaGenerateJobs, servedAnswer } from './served-answer';

const ROOT = resolve(__dirname, '..', '..', '..');
const WITH_TOLERANCES = process.argv.includes('--tolerances') || process.env.TOLERANCES === '1';
const QUESTIONS = Number(process.env.QUESTIONS ?? (WITH_TOLERANCES ? 48 : 24));
const THREADS = Number(process.env.VERIFY_THREADS ?? 1);
const REFERENCE_QUANTIZE = process.env.REFERENCE_QUANTIZE === 'int8' ? 'int8' : 'none';
const PROMPT_CACHE_BYTES = Number(process.env.VERIFY_PROMPT_CACHE_MB ?? 64) * 2 ** 20;
const LLAMA_PYTHON = process.env.LLAMA_PYTHON ?? join(ROOT, '.venv-llama', 'bin', 'python');
const LLAMA_ORACLE = join(ROOT, 'test', 'interop', 'python', 'llama_oracle.py');
/** The validator's defaults, or candidates given as the validator's variables. */
const DEFAULTS: Tolerances = {
  greedyLogitGap: Number(process.env.VERIFY_GREEDY_LOGIT_GAP ?? DEFAULT_TOLERANCES.greedyLogitGap),
  greedyMeanGap: Number(process.env.VERIFY_GREEDY_MEAN_GAP ?? DEFAULT_TOLERANCES.greedyMeanGap),
  samplingLogitSlack: Number(
    process.env.VERIFY_SAMPLING_LOGIT_SLACK ?? DEFAULT_TOLERANCES.samplingLogitSlack,
  ),
  logprobZ: Number(process.env.VERIFY_LOGPROB_Z ?? DEFAULT_TOLERANCES.logprobZ),
  logprobMinTokens: Number(process.env.VERIFY_LOGPROB_MIN_TOKENS ?? DEFAULT_TOLERANCES.logprobMinTokens),
};
const MEASURE: Tolerances = {
  greedyLogitGap: Infinity,
  greedyMeanGap: Infinity,
  samplingLogitSlack: Infinity,
  logprobZ: Infinity,
  logprobMinTokens: DEFAULTS.logprobMinTokens,
};
/** Load model: 10 chat requests/s, this share of them verified... */
const REQUESTS_PER_SECOND = 10;
const ORGANIC_SHARE = 0.1;
/** ...plus every synthetic answer: 4 questions per tempo to each of 256 miners, a Finney tempo being 361 blocks of 12 s. */
const SYNTHETIC_PER_SECOND = (4 * 256) / (361 * 12);

/** A mid-sized generated model: "another model" whose text the cheater passes off. */
const OTHER_MODEL = {
  hiddenSize: 256,
  numLayers: 4,
  numHeads: 8,
  numKvHeads: 4,
  intermediateSize: 704,
  vocabSize: 2048,
  maxPositions: 2048,
};

interface Question {
  messages: ChatTurn[];
  sampling: SamplingOptions;
  greedy: boolean;
}

interface Answer extends ReturnedAnswer {
  question: Question;
}

/** llama-cpp-python on the GGUF (test/interop/python/llama_oracle.py), one JSON line per request. */
class LlamaCpp {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  private next = 1;

  constructor() {
    this.child = spawn(LLAMA_PYTHON, [LLAMA_ORACLE], { env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    this.child.stderr.resume();
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const message = JSON.parse(line) as { id: number; result?: unknown; error?: string };
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.error !== undefined) waiter?.reject(new Error(`llama.cpp: ${message.error}`));
      else waiter?.resolve(message.result);
    });
  }

  static available(): boolean {
    return existsSync(LLAMA_PYTHON) && existsSync(LLAMA_ORACLE);
  }

  call<T>(op: string, args: Record<string, unknown>): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolvePromise, reject) => {
      this.waiting.set(id, { resolve: resolvePromise as (value: unknown) => void, reject });
      this.child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  close(): void {
    this.child.stdin.end();
  }
}

function cpuMs(): number {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
}

function questions(count: number, seed: number): Question[] {
  const bank = new QuestionBank(seededRandom(seed), 48);
  return Array.from({ length: count }, () => {
    const q = bank.question();
    const { messages, sampling } = requestSampling(q.request);
    return {
      messages,
      sampling: { ...sampling, seed: Number(q.request.sampling?.seed ?? 0) },
      greedy: !sampling.temperature,
    };
  });
}

async function answer(engine: InferenceEngine, question: Question): Promise<Answer> {
  const out: Answer = {
    question,
    text: '',
    tokenIds: [],
    tokenCount: 0,
    finishReason: '',
    idsFromMiner: true,
  };
  for await (const chunk of engine.generate(question.messages, question.sampling)) {
    out.text += chunk.text;
    out.tokenIds.push(...chunk.tokenIds);
    out.tokenCount += chunk.tokenIds.length;
    if (chunk.finishReason) out.finishReason = chunk.finishReason;
    if (chunk.usage) out.usage = chunk.usage;
  }
  return out;
}

async function answersOf(
  modelDir: string,
  qs: Question[],
  quantize: 'none' | 'int8' | 'int4' = 'none',
): Promise<Answer[]> {
  const engine = await InferenceEngine.load(modelDir, { quantize, intraOpThreads: THREADS, maxBatchSize: 1 });
  try {
    const out: Answer[] = [];
    for (const q of qs) out.push(await answer(engine, q));
    return out;
  } finally {
    await engine.close();
  }
}

/** The served form of ids for a question (served-answer.ts), as a bench Answer. */
function served(reference: ReferenceModel, question: Question, ids: number[], relabel: boolean): Answer {
  const { sampling, answer } = servedAnswer(reference, question, ids, relabel);
  return { ...answer, question: { ...question, sampling } };
}

/** Answers of llama.cpp on a GGUF: the request's resolved sampler settings, its seed, a fresh cache each. */
async function llamaAnswers(llama: LlamaCpp, gguf: string, reference: ReferenceModel, qs: Question[]): Promise<Answer[]> {
  const jobs = llamaGenerateJobs(reference, qs);
  const ids = await llama.call<number[][]>('generate', { gguf, jobs, n_threads: THREADS, n_ctx: 2048 });
  return qs.map((q, index) => served(reference, q, ids[index], false));
}

/** Largest and smallest of one per-answer statistic: the largest matters for honest miners, the smallest for cheaters. */
class Range {
  max = -Infinity;
  min = Infinity;
  add(value: number): void {
    this.max = Math.max(this.max, value);
    this.min = Math.min(this.min, value);
  }
  toString(): string {
    return Number.isFinite(this.max) ? `${this.max.toFixed(2)} / ${this.min.toFixed(2)}` : '–';
  }
}

interface Row {
  label: string;
  answers: number;
  greedyGap: Range;
  greedyMeanGap: Range;
  samplingOutside: Range;
  absZ: Range;
  passDefaults: number;
  /** Reasons the tolerances in force failed answers for, with counts. */
  failures: Map<string, number>;
}

async function measure(reference: ReferenceModel, label: string, answers: Answer[]): Promise<Row> {
  const row: Row = {
    label,
    answers: answers.length,
    greedyGap: new Range(),
    greedyMeanGap: new Range(),
    samplingOutside: new Range(),
    absZ: new Range(),
    passDefaults: 0,
    failures: new Map(),
  };
  for (const a of answers) {
    const measured = await verifyCompletion(reference, a.question, a, MEASURE);
    if (measured.outcome === 'verified') {
      if (a.question.greedy) {
        row.greedyGap.add(measured.worstGap);
        row.greedyMeanGap.add(measured.meanGap ?? 0);
      } else row.samplingOutside.add(measured.worstGap);
      if (measured.z !== undefined) row.absZ.add(Math.abs(measured.z));
    }
    const verdict = await verifyCompletion(reference, a.question, a, DEFAULTS);
    if (verdict.outcome !== 'failed') row.passDefaults++;
    else row.failures.set(verdict.reason, (row.failures.get(verdict.reason) ?? 0) + 1);
    // What a cheater that slips through, or an honest answer that fails, looks like.
    if ((verdict.outcome === 'failed') === label.startsWith('honest')) {
      const seen = { ...measured, sampling: a.question.sampling, text: a.text.slice(0, 80) };
      const json = JSON.stringify(seen, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
      console.error(`  ${label}: ${verdict.outcome === 'failed' ? verdict.reason : 'passed'} ${json}`);
    }
  }
  console.error(`measured ${label}`);
  return row;
}

async function tolerances(
  root: string,
  modelDir: string,
  gguf: string | undefined,
  llama: LlamaCpp | undefined,
): Promise<void> {
  const qs = questions(QUESTIONS, 7);
  const reference = await ReferenceModel.load(modelDir, {
    intraOpThreads: THREADS,
    prefixCacheBytes: PROMPT_CACHE_BYTES,
  });
  const rows: Row[] = [];
  const honest = await answersOf(modelDir, qs);
  rows.push(await measure(reference, 'honest: the Q4_1 import (the reference itself)', honest));
  if (llama && gguf) {
    // Every form a miner can make of the published GGUF: float32 (dequantised by llama.cpp) and what
    // llama.cpp's quantizer makes of that (a requantized 4-bit form rounds twice: the worst case).
    const requantized = async (name: string, ftype: number): Promise<string> => {
      const out = join(root, `${name}.gguf`);
      await llama.call('quantize', { gguf, out, ftype });
      return out;
    };
    const f32Gguf = await requantized('f32', 0);
    const q40Gguf = await requantized('q4_0', 2);
    const f32Dir = join(root, 'f32');
    importGguf(f32Gguf, f32Dir, { name: 'float32 form' });
    const q40Dir = join(root, 'q4_0');
    importGguf(q40Gguf, q40Dir, { name: 'Q4_0 form' });
    const forms: [string, () => Promise<Answer[]>][] = [
      ['honest: float32 (dequantised GGUF, imported)', () => answersOf(f32Dir, qs)],
      ['honest: MINER_QUANTIZE=int8 of the float32 form', () => answersOf(f32Dir, qs, 'int8')],
      ['honest: MINER_QUANTIZE=int4 of the float32 form', () => answersOf(f32Dir, qs, 'int4')],
      ['honest: Q4_0 requantized by llama.cpp, imported', () => answersOf(q40Dir, qs)],
      ['honest: llama.cpp on the Q4_1 GGUF', () => llamaAnswers(llama, gguf, reference, qs)],
      ['honest: llama.cpp on the float32 GGUF', () => llamaAnswers(llama, f32Gguf, reference, qs)],
      ['honest: llama.cpp on Q4_0 (requantized)', () => llamaAnswers(llama, q40Gguf, reference, qs)],
      [
        'honest: llama.cpp on Q8_0 (requantized)',
        async () => llamaAnswers(llama, await requantized('q8_0', 7), reference, qs),
      ],
      [
        'honest: llama.cpp on Q4_K_M (requantized)',
        async () => llamaAnswers(llama, await requantized('q4_k_m', 15), reference, qs),
      ],
    ];
    for (const [label, make] of forms) rows.push(await measure(reference, label, await make()));
  } else
    console.error(
      'llama.cpp (.venv-llama) or the GGUF is missing: the float32, int8, int4, Q4_0 and llama.cpp rows are left out',
    );

  const otherDir = join(root, 'other');
  await generateModel({ outDir: otherDir, seed: 101, ...OTHER_MODEL });
  const others = await answersOf(otherDir, qs);
  rows.push(
    await measure(
      reference,
      "cheat: another model's text",
      others.map((a) => served(reference, a.question, reference.encodeText(a.text).slice(0, 48), true)),
    ),
  );
  const random = seededRandom(99);
  rows.push(
    await measure(
      reference,
      'cheat: random tokens',
      honest.map((a) =>
        served(
          reference,
          a.question,
          a.tokenIds.map(() => Math.floor(random() * reference.vocabSize)),
          true,
        ),
      ),
    ),
  );
  // The first half of an honest answer, claimed finished: no stop ended it.
  const truncated = honest
    .filter((a) => a.tokenIds.length >= 4)
    .map((a) => {
      const ids = a.tokenIds.slice(0, a.tokenIds.length >> 1);
      const promptIds = reference.encodeChat(a.question.messages);
      return {
        ...a,
        text: reference.replay(promptIds.length, ids, a.question.sampling).text,
        tokenIds: ids,
        tokenCount: ids.length,
        finishReason: 'stop',
        usage: { promptTokens: promptIds.length, completionTokens: ids.length },
      };
    });
  rows.push(await measure(reference, 'cheat: truncated honest answers', truncated));
  rows.push(
    await measure(
      reference,
      'cheat: answers replayed to other questions',
      honest.map((a, i) => served(reference, a.question, honest[(i + 1) % honest.length].tokenIds, true)),
    ),
  );
  await reference.close();

  console.log(
    `\n### Tolerances: the reference (${reference.modelName}) against each miner, ${QUESTIONS} synthetic questions each\n`,
  );
  console.log(
    '| miner | answers | greedy: worst gap per answer (max / min) | greedy: mean gap per answer | sampled: worst distance outside the kept set | sampled: \\|z\\| | pass the tolerances | failed for |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.label} | ${r.answers} | ${r.greedyGap.toString()} | ${r.greedyMeanGap.toString()} | ${r.samplingOutside.toString()} | ${r.absZ.toString()} | ${r.passDefaults} | ${[...r.failures].map(([reason, n]) => `${reason} ${n}`).join(', ') || '–'} |`,
    );
  console.log(`\nTolerances checked: ${JSON.stringify(DEFAULTS)}`);
}

interface Case {
  question: Question;
  answer: Answer;
  promptIds: number[];
}

/** CPU and wall time of verifying every case once. */
async function timeVerification(
  reference: ReferenceModel,
  cases: Case[],
): Promise<{ cpu: number; wall: number; failed: number }> {
  const cpu = cpuMs();
  const started = performance.now();
  let failed = 0;
  for (const c of cases) {
    const verdict = await verifyCompletion(reference, c.question, c.answer, DEFAULTS);
    if (verdict.outcome === 'failed') failed++;
  }
  return { cpu: cpuMs() - cpu, wall: performance.now() - started, failed };
}

async function cost(modelDir: string, gguf: string | undefined, llama: LlamaCpp | undefined): Promise<void> {
  // One more question than measured: every pass warms up on it first.
  const qs = questions(QUESTIONS + 1, 11);
  const all = await answersOf(modelDir, qs);
  const reference = await ReferenceModel.load(modelDir, {
    intraOpThreads: THREADS,
    quantize: REFERENCE_QUANTIZE,
    prefixCacheBytes: PROMPT_CACHE_BYTES,
  });
  const cases: Case[] = all.map((a) => ({
    question: a.question,
    answer: a,
    promptIds: reference.encodeChat(a.question.messages),
  }));
  const warm = cases.pop()!;
  const answerTokens = cases.reduce((sum, c) => sum + c.answer.tokenIds.length, 0);
  const promptTokens = cases.reduce((sum, c) => sum + c.promptIds.length, 0);
  const n = cases.length;

  await verifyCompletion(reference, warm.question, warm.answer, DEFAULTS);
  const before = reference.prefixCache;
  const first = await timeVerification(reference, cases);
  const after = reference.prefixCache;
  // The same answers again: each prompt now cached whole, as for a second miner's answer to the same request.
  const again = await timeVerification(reference, cases);
  await reference.close();

  const uncached = await ReferenceModel.load(modelDir, {
    intraOpThreads: THREADS,
    quantize: REFERENCE_QUANTIZE,
    prefixCacheBytes: 0,
  });
  await verifyCompletion(uncached, warm.question, warm.answer, DEFAULTS);
  const plain = await timeVerification(uncached, cases);
  await uncached.close();

  // Peer: the engine's own prefill of the same tokens (its graph, one pass over prompt + answer).
  const folder = readModelFolder(modelDir);
  const session = await DecoderSession.create(folder.onnxPath, folder.config, {
    device: 'cpu',
    intraOpThreads: THREADS,
    quantize: REFERENCE_QUANTIZE,
  });
  const sequences = [warm, ...cases].map((c) => [...c.promptIds, ...c.answer.tokenIds.slice(0, -1)]);
  let prefillCpu = 0;
  for (const [index, fed] of sequences.entries()) {
    const started = cpuMs();
    await session.forward({
      batch: 1,
      seqLength: fed.length,
      inputIds: BigInt64Array.from(fed, BigInt),
      positionIds: BigInt64Array.from(fed, (_, i) => BigInt(i)),
      attentionMask: new BigInt64Array(fed.length).fill(1n),
      past: emptyKvCache(session.layout, 1),
    });
    if (index > 0) prefillCpu += cpuMs() - started;
  }
  await session.release();
  let llamaCpu: number | undefined;
  if (llama && gguf) {
    const seconds = await llama.call<number[]>('prefill_cpu', {
      gguf,
      sequences,
      n_threads: THREADS,
      n_ctx: 2048,
    });
    llamaCpu = seconds.slice(1).reduce((sum, s) => sum + s, 0) * 1000;
  }

  const per100 = (ms: number): string => `${((ms / answerTokens) * 100).toFixed(0)} ms`;
  const perAnswer = (ms: number): string => `${(ms / n).toFixed(0)} ms`;
  const ratio = (ms: number): string => `${(ms / prefillCpu).toFixed(2)}`;
  const computed = (after.computedTokens - before.computedTokens) / n;
  console.log(
    `\n### Verification cost on ${reference.modelName} (VERIFY_THREADS=${THREADS}, REFERENCE_QUANTIZE=${REFERENCE_QUANTIZE}, ${n} synthetic answers: ${(answerTokens / n).toFixed(1)} answer and ${(promptTokens / n).toFixed(1)} prompt tokens on average)\n`,
  );
  console.log(
    '| pass over the same answers | CPU per 100 answer tokens | CPU per answer | x engine prefill |',
  );
  console.log('|---|---|---|---|');
  console.log(
    `| engine prefill of prompt + answer (peer) | ${per100(prefillCpu)} | ${perAnswer(prefillCpu)} | 1.00 |`,
  );
  if (llamaCpu !== undefined)
    console.log(
      `| llama.cpp prefill of prompt + answer (peer, llama-cpp-python) | ${per100(llamaCpu)} | ${perAnswer(llamaCpu)} | ${ratio(llamaCpu)} |`,
    );
  console.log(
    `| verification, no prompt cache | ${per100(plain.cpu)} | ${perAnswer(plain.cpu)} | ${ratio(plain.cpu)} |`,
  );
  console.log(
    `| verification, prompt cache (distinct prompts: ${computed.toFixed(1)} tokens run per answer of ${((promptTokens + answerTokens - n) / n).toFixed(1)}) | ${per100(first.cpu)} | ${perAnswer(first.cpu)} | ${ratio(first.cpu)} |`,
  );
  console.log(
    `| verification of a second answer to a cached prompt | ${per100(again.cpu)} | ${perAnswer(again.cpu)} | ${ratio(again.cpu)} |`,
  );
  const verifiedRequests = REQUESTS_PER_SECOND * ORGANIC_SHARE;
  const firstMs = first.cpu / n;
  const againMs = again.cpu / n;
  const plainMs = plain.cpu / n;
  /** CPU ms per second: every synthetic answer, and all `miners` answers to a verified share of the requests. */
  const load = (miners: number, firstAnswer: number, laterAnswer: number): number =>
    SYNTHETIC_PER_SECOND * firstAnswer + verifiedRequests * (firstAnswer + (miners - 1) * laterAnswer);
  const percent = (ms: number): string => `${(ms / 10).toFixed(1)} %`;
  console.log(
    `\nHonest answers failed at the tolerances in force: ${first.failed + again.failed + plain.failed} of ${3 * n}.`,
  );
  console.log(
    `Answers verified per second by one replica: ${((n * 1000) / first.wall).toFixed(1)} (wall clock, VERIFY_THREADS=${THREADS}); ${((n * 1000) / first.cpu).toFixed(1)} per second of CPU.`,
  );
  console.log(
    `\nLoad at ${REQUESTS_PER_SECOND} chat requests/s with ${ORGANIC_SHARE * 100} % of the requests verified, plus every synthetic answer (${SYNTHETIC_PER_SECOND.toFixed(3)}/s: 4 per tempo of 361 x 12 s to each of 256 miners), answers like these (goal < 20 % of one core):\n`,
  );
  console.log('| miners per request | verified answers/s | with the prompt cache | without |');
  console.log('|---|---|---|---|');
  for (const miners of [1, 2])
    console.log(
      `| ${miners}${miners === 2 ? ' (MINERS_PER_REQUEST default)' : ''} | ${(SYNTHETIC_PER_SECOND + verifiedRequests * miners).toFixed(2)} | **${percent(load(miners, firstMs, againMs))}** of one core | ${percent(load(miners, plainMs, plainMs))} |`,
    );
}

async function main(): Promise<void> {
  const paths = defaultModelPaths(join(ROOT, 'models'));
  const modelDir = process.env.MODEL_DIR ?? paths.dir;
  if (!existsSync(join(modelDir, 'config.json'))) {
    console.error(`${modelDir} holds no model: run \`npm run model:fetch\` (or set MODEL_DIR)`);
    process.exit(1);
  }
  const gguf = process.env.GGUF ?? (process.env.MODEL_DIR ? undefined : paths.gguf);
  const llama = LlamaCpp.available() && gguf && existsSync(gguf) ? new LlamaCpp() : undefined;
  if (!llama) console.error('llama.cpp peer left out (no .venv-llama or no GGUF)');
  const root = mkdtempSync(join(tmpdir(), 'validator-bench-'));
  try {
    if (WITH_TOLERANCES) await tolerances(root, modelDir, gguf, llama);
    else await cost(modelDir, gguf, llama);
  } finally {
    llama?.close();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
