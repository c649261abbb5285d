// Measures one model with the ChatTensor engine in its own process, so that
// peak RSS belongs to this model alone. Invoked by run.ts with a JSON job as
// the first argument; prints a JSON result on stdout.
import { readFileSync } from 'node:fs';
import { InferenceEngine, type ChatTurn, type GenerationChunk } from '@chattensor/inference';

interface Job {
  modelDir: string;
  device: 'cpu' | 'cuda';
  quantize: 'none' | 'int8';
  /** Batch-1 decode rate and peak RSS only (no TTFT or concurrency runs). */
  decodeOnly: boolean;
  decodeTokens: number;
  concurrency: number[];
  tokensPerRequest: number;
  ttftPromptTokens: number;
  repeats: number;
  /** onnxruntime intra-op threads (0 or absent: its default, one per core). */
  intraOpThreads?: number;
}

const WORDS =
  'the river rises in the hills to the north and runs through three small towns and a wide valley of farms before it reaches the sea'.split(
    ' ',
  );

function userPrompt(index: number, words: number): ChatTurn[] {
  const text = Array.from({ length: words }, (_, i) => WORDS[(i * 7 + index * 3) % WORDS.length]).join(' ');
  return [{ role: 'user', content: `Request ${index}: ${text}` }];
}

/** A conversation whose rendered prompt has `tokens` tokens, or very nearly. */
function promptOfLength(engine: InferenceEngine, tokens: number): ChatTurn[] {
  let words = 1;
  while (engine.countTokens(userPrompt(0, words * 2)) <= tokens) words *= 2;
  let low = words;
  let high = words * 2;
  while (high - low > 1) {
    const mid = (low + high) >> 1;
    if (engine.countTokens(userPrompt(0, mid)) <= tokens) low = mid;
    else high = mid;
  }
  // Top up with short words; each usually adds one token (the result is reported either way).
  const messages = userPrompt(0, low);
  for (let attempt = 0; attempt < 16 && engine.countTokens(messages) < tokens; attempt++)
    messages[0].content += ' a';
  if (engine.countTokens(messages) > tokens) messages[0].content = messages[0].content.replace(/ a$/, '');
  return messages;
}

/**
 * Peak RSS of this process from /proc (VmHWM). getrusage's maxrss would carry
 * over the parent's peak, because Linux keeps it across exec.
 */
function peakRssMiB(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

async function drain(stream: AsyncIterable<GenerationChunk>, onChunk?: () => void): Promise<number> {
  let tokens = 0;
  for await (const chunk of stream) {
    tokens += chunk.tokenIds.length;
    onChunk?.();
  }
  return tokens;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]) as Job;
  const loadStart = performance.now();
  const engine = await InferenceEngine.load(job.modelDir, {
    device: job.device,
    quantize: job.quantize,
    maxBatchSize: Math.max(...job.concurrency),
    maxQueue: 256,
    intraOpThreads: job.intraOpThreads || undefined,
  });
  await engine.warmup();
  const loadSeconds = (performance.now() - loadStart) / 1000;

  // Batch-1 decode rate: time between the first and the last token, so prefill is excluded.
  let decodeTokensPerSecond = 0;
  for (let repeat = 0; repeat < job.repeats; repeat++) {
    let first = 0;
    let last = 0;
    const tokens = await drain(
      engine.generate(userPrompt(repeat, 20), {
        temperature: 0,
        maxTokens: job.decodeTokens + 1,
        ignoreEos: true,
      }),
      () => {
        last = performance.now();
        if (first === 0) first = last;
      },
    );
    decodeTokensPerSecond = Math.max(decodeTokensPerSecond, (tokens - 1) / ((last - first) / 1000));
  }

  if (job.decodeOnly) {
    await engine.close();
    process.stdout.write(JSON.stringify({ loadSeconds, decodeTokensPerSecond, peakRssMiB: peakRssMiB() }));
    return;
  }

  const longPrompt = promptOfLength(engine, job.ttftPromptTokens);
  let ttftSeconds = Infinity;
  for (let repeat = 0; repeat < job.repeats; repeat++) {
    const started = performance.now();
    let firstAt = 0;
    await drain(
      engine.generate(longPrompt, { temperature: 0, maxTokens: 1, ignoreEos: true }),
      () => (firstAt ||= performance.now()),
    );
    ttftSeconds = Math.min(ttftSeconds, (firstAt - started) / 1000);
  }

  // The work llama.cpp's column does (batch-1 decode, one long prompt): the peak to set beside its own.
  const batch1PeakRssMiB = peakRssMiB();
  const aggregate: Record<string, number> = {};
  for (const concurrency of job.concurrency) {
    const started = performance.now();
    const counts = await Promise.all(
      Array.from({ length: concurrency }, (_, index) =>
        drain(
          engine.generate(userPrompt(index, 20), {
            temperature: 0.8,
            seed: index,
            maxTokens: job.tokensPerRequest,
            ignoreEos: true,
          }),
        ),
      ),
    );
    const total = counts.reduce((a, b) => a + b, 0);
    aggregate[String(concurrency)] = total / ((performance.now() - started) / 1000);
  }
  await engine.close();
  process.stdout.write(
    JSON.stringify({
      loadSeconds,
      decodeTokensPerSecond,
      ttftSeconds,
      ttftPromptTokens: engine.countTokens(longPrompt),
      aggregateTokensPerSecond: aggregate,
      batch1PeakRssMiB,
      peakRssMiB: peakRssMiB(),
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
