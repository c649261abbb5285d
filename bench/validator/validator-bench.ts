/**
 * `npm run bench:validator`: what answer verification costs and how its
 * tolerances were chosen.
 *
 * 1. Tolerances (`--tolerances`, or always with TOLERANCES=1): on generated
 *    models, honest miners on every allowed quantization (float32, int8, 4-bit)
 *    answer the validator's synthetic questions; the float32 reference scores
 *    each answer in one teacher-forced pass. Reported: the largest greedy
 *    top-logit gap, the largest distance outside the top-k / top-p / min-p
 *    set and the largest |z| of the summed log-probability, for honest
 *    miners and for cheaters (random tokens, another model's tokens under the
 *    same tokenizer, replayed answers to other questions), and how many of
 *    each the default tolerances pass.
 * 2. Cost: CPU milliseconds per 100 verified tokens (process CPU time, all
 *    threads) and answers verified per second by one replica with
 *    VERIFY_THREADS onnxruntime threads; then what verifying every synthetic
 *    answer and 10 % of organic ones costs at 10 chat requests per second.
 *
 * Variables: MODEL_DIR (verify on this folder instead of generated ones,
 * e.g. the default SmolLM2 once fetched), QUESTIONS (default 48),
 * VERIFY_THREADS (default 1), REFERENCE_QUANTIZE (none or int8: the reference's
 * own weights), PRESETS (default "tiny,small"; "smol" adds SmolLM2-135M's shape, slow on two cores).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InferenceEngine,
  ReferenceModel,
  generateModel,
  verifyCompletion,
  type ChatTurn,
  type ReturnedAnswer,
  type SamplingOptions,
  type Tolerances,
} from '@chattensor/inference';
import { DEFAULT_TOLERANCES, QuestionBank, requestSampling, seededRandom } from '@chattensor/scoring';

const QUESTIONS = Number(process.env.QUESTIONS ?? 48);
const THREADS = Number(process.env.VERIFY_THREADS ?? 1);
const REFERENCE_QUANTIZE = process.env.REFERENCE_QUANTIZE === 'int8' ? 'int8' : 'none';
const WITH_TOLERANCES = process.argv.includes('--tolerances') || process.env.TOLERANCES === '1';
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
  logprobMinTokens: 16,
};

/** SmolLM2-135M-Instruct's shape (the default model), with generated weights and the ChatML template. */
const SMOL = {
  hiddenSize: 576,
  numLayers: 30,
  numHeads: 9,
  numKvHeads: 3,
  intermediateSize: 1536,
  vocabSize: 49152,
  maxPositions: 8192,
  tieWordEmbeddings: true,
  chatFormat: 'chatml' as const,
};
/** A mid-sized generated shape: sharper distributions than tiny, still quick on two cores. */
const SMALL = {
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

/** A cheater's answer made self-consistent (text, usage, finish) so that only the token checks can catch it. */
function disguise(reference: ReferenceModel, question: Question, ids: number[]): Answer {
  const promptIds = reference.encodeChat(question.messages);
  const sampling = { ...question.sampling, maxTokens: Math.max(1, ids.length) };
  const replayed = reference.replay(promptIds.length, ids, sampling);
  const kept = ids.slice(0, (replayed.finishedAt ?? ids.length - 1) + 1);
  const final = reference.replay(promptIds.length, kept, sampling);
  return {
    question: { ...question, sampling },
    text: final.text,
    tokenIds: kept,
    tokenCount: kept.length,
    finishReason: final.finishReason ?? 'length',
    usage: { promptTokens: promptIds.length, completionTokens: kept.length },
    idsFromMiner: true,
  };
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
  }
  return row;
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

async function tolerances(root: string, preset: string): Promise<Row[]> {
  const shape = preset === 'small' ? SMALL : preset === 'smol' ? SMOL : {};
  const dir = join(root, preset);
  const other = join(root, `${preset}-other`);
  // Only tiny is a named preset; the other shapes are given in full.
  const named = preset === 'tiny' ? 'tiny' : undefined;
  await generateModel({ outDir: dir, preset: named, seed: 1, ...shape });
  await generateModel({ outDir: other, preset: named, seed: 101, ...shape });
  const reference = await ReferenceModel.load(dir, { intraOpThreads: THREADS });
  const qs = questions(QUESTIONS, 7);
  const rows: Row[] = [];
  const honest: Answer[][] = [];
  for (const quantize of ['none', 'int8', 'int4'] as const) {
    const engine = await InferenceEngine.load(dir, { quantize, intraOpThreads: THREADS, maxBatchSize: 1 });
    const answers: Answer[] = [];
    for (const q of qs) answers.push(await answer(engine, q));
    await engine.close();
    honest.push(answers);
    rows.push(
      await measure(reference, `${preset}: honest ${quantize === 'none' ? 'float32' : quantize}`, answers),
    );
  }
  const otherEngine = await InferenceEngine.load(other, { intraOpThreads: THREADS, maxBatchSize: 1 });
  const others: Answer[] = [];
  for (const q of qs) others.push(await answer(otherEngine, q));
  await otherEngine.close();
  rows.push(await measure(reference, `${preset}: another model's tokens`, others));
  const random = seededRandom(99);
  const randomAnswers = honest[0].map((a) =>
    disguise(
      reference,
      a.question,
      a.tokenIds.map(() => Math.floor(random() * reference.vocabSize)),
    ),
  );
  rows.push(await measure(reference, `${preset}: random tokens`, randomAnswers));
  const replays = honest[0].map((a, i) =>
    disguise(reference, a.question, honest[0][(i + 1) % honest[0].length].tokenIds),
  );
  rows.push(await measure(reference, `${preset}: replayed answers`, replays));
  await reference.close();
  return rows;
}

async function cost(modelDir: string): Promise<void> {
  const engine = await InferenceEngine.load(modelDir, { intraOpThreads: THREADS, maxBatchSize: 1 });
  const reference = await ReferenceModel.load(modelDir, {
    intraOpThreads: THREADS,
    quantize: REFERENCE_QUANTIZE,
  });
  const qs = questions(QUESTIONS, 11);
  const answers: Answer[] = [];
  for (const q of qs) answers.push(await answer(engine, q));
  await engine.close();
  // Warm-up pass, then the measured one.
  await verifyCompletion(reference, answers[0].question, answers[0], DEFAULTS);
  const cpu = process.cpuUsage();
  const started = performance.now();
  let tokens = 0;
  let failed = 0;
  for (const a of answers) {
    const verdict = await verifyCompletion(reference, a.question, a, DEFAULTS);
    if (verdict.outcome === 'failed') failed++;
    tokens += a.tokenIds.length;
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  const perAnswerMs = cpuMs / answers.length;
  // 10 chat requests/s, 10 % verified, plus synthetic traffic: 4 questions per tempo to each of 256 miners,
  // a Finney tempo being 361 blocks of 12 s.
  const syntheticPerSecond = (4 * 256) / (361 * 12);
  const answersPerSecond = 10 * 0.1 + syntheticPerSecond;
  console.log(
    `\n### Verification cost on ${reference.modelName} (VERIFY_THREADS=${THREADS}, REFERENCE_QUANTIZE=${REFERENCE_QUANTIZE}, ${answers.length} answers, ${tokens} tokens)\n`,
  );
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| CPU per 100 verified tokens | ${((cpuMs / tokens) * 100).toFixed(1)} ms |`);
  console.log(
    `| CPU per answer (mean ${(tokens / answers.length).toFixed(1)} tokens) | ${perAnswerMs.toFixed(1)} ms |`,
  );
  console.log(`| answers verified per second, one replica | ${(answers.length / wallSeconds).toFixed(1)} |`);
  console.log(`| honest answers failed at the defaults | ${failed} |`);
  console.log(
    `| load at 10 req/s (10 % organic + ${syntheticPerSecond.toFixed(2)}/s synthetic) | ${((answersPerSecond * perAnswerMs) / 10).toFixed(1)} % of one core (goal < 20 %) |`,
  );
  await reference.close();
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'validator-bench-'));
  try {
    if (WITH_TOLERANCES) {
      const presets = (process.env.PRESETS ?? 'tiny,small').split(',');
      const rows: Row[] = [];
      for (const preset of presets) rows.push(...(await tolerances(root, preset)));
      console.log(
        `\n### Tolerances: the float32 reference against each miner (${QUESTIONS} synthetic questions each)\n`,
      );
      console.log(
        '| miner | answers | greedy: worst gap per answer (max / min) | greedy: mean gap per answer | sampled: worst distance outside the kept set | sampled: \\|z\\| | pass the defaults |',
      );
      console.log('|---|---|---|---|---|---|---|');
      for (const r of rows)
        console.log(
          `| ${r.label} | ${r.answers} | ${r.greedyGap.toString()} | ${r.greedyMeanGap.toString()} | ${r.samplingOutside.toString()} | ${r.absZ.toString()} | ${r.passDefaults} |`,
        );
      console.log(`\nDefaults checked: ${JSON.stringify(DEFAULTS)}`);
    }
    let modelDir = process.env.MODEL_DIR;
    if (!modelDir) {
      modelDir = join(root, 'cost');
      await generateModel({ outDir: modelDir, preset: 'tiny', seed: 3 });
    }
    await cost(modelDir);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
