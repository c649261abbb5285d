/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { getEventListeners } from 'node:events';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidRequestError, ModelLoadError, QueueFullError } from '../errors';
import { generateModel } from '../generator/generate-model';
import { Tokenizer } from '../tokenizer/tokenizer';
import type { ChatTurn, GenerationChunk, SamplingOptions } from '../types';
import { InferenceEngine } from './inference-engine';
import { readFileSync } from 'node:fs';

const chat = (content: string): ChatTurn[] => [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content },
];

async function collect(
  stream: AsyncIterable<GenerationChunk>,
): Promise<{ text: string; ids: number[]; chunks: GenerationChunk[] }> {
  const chunks: GenerationChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return {
    text: chunks.map((chunk) => chunk.text).join(''),
    ids: chunks.flatMap((chunk) => chunk.tokenIds),
    chunks,
  };
}

describe('InferenceEngine', () => {
  let root: string;
  let modelDir: string;
  let engine: InferenceEngine;
  let tokenizer: Tokenizer;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'inference-engine-'));
    modelDir = join(root, 'tiny');
    await generateModel({ outDir: modelDir, preset: 'tiny', seed: 3 });
    engine = await InferenceEngine.load(modelDir, { maxBatchSize: 4, maxQueue: 2 });
    await engine.warmup();
    tokenizer = Tokenizer.fromJson(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8'));
  });

  afterAll(async () => {
    await engine.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('reports the model name and context length from the folder', () => {
    expect(engine.modelName).toBe('chattensor/llama-tiny-fp32-seed3');
    expect(engine.contextLength).toBe(1024);
    expect(engine.countTokens(chat('Hello'))).toBeGreaterThan(10);
  });

  it('runs the same model with int8 weights, which a float16 model cannot have', async () => {
    const int8 = await InferenceEngine.load(modelDir, { maxBatchSize: 2, quantize: 'int8' });
    try {
      const quantized = await collect(
        int8.generate(chat('Tell me a story.'), { temperature: 0, maxTokens: 24 }),
      );
      const full = await collect(
        engine.generate(chat('Tell me a story.'), { temperature: 0, maxTokens: 24 }),
      );
      expect(quantized.ids).toHaveLength(24);
      // Rounding the weights moves the logits a little: greedy decoding starts out the same.
      expect(quantized.ids.slice(0, 4)).toEqual(full.ids.slice(0, 4));
    } finally {
      await int8.close();
    }
    const fp16Dir = join(root, 'tiny-fp16');
    await generateModel({ outDir: fp16Dir, preset: 'tiny', seed: 3, dtype: 'fp16' });
    await expect(InferenceEngine.load(fp16Dir, { quantize: 'int8' })).rejects.toThrow(ModelLoadError);
    await expect(InferenceEngine.load(fp16Dir, { quantize: 'int8' })).rejects.toThrow(/float32 model/);
  });

  it('generates the same tokens twice with greedy decoding', async () => {
    const first = await collect(engine.generate(chat('Tell me a story.'), { temperature: 0, maxTokens: 24 }));
    const second = await collect(
      engine.generate(chat('Tell me a story.'), { temperature: 0, maxTokens: 24 }),
    );
    expect(first.ids).toHaveLength(24);
    expect(second.ids).toEqual(first.ids);
    expect(new Set(first.ids).size).toBeGreaterThan(3);
  });

  it('reproduces sampled output for the same seed and varies it with the seed', async () => {
    const options: SamplingOptions = { temperature: 1, topP: 0.95, maxTokens: 24 };
    const a = await collect(engine.generate(chat('Hi'), { ...options, seed: 1 }));
    const b = await collect(engine.generate(chat('Hi'), { ...options, seed: 1 }));
    const c = await collect(engine.generate(chat('Hi'), { ...options, seed: 2 }));
    expect(b.ids).toEqual(a.ids);
    expect(c.ids).not.toEqual(a.ids);
  });

  it('streams text that equals the full decode of the generated tokens', async () => {
    const result = await collect(
      engine.generate(chat('Write something long.'), { temperature: 1, seed: 9, maxTokens: 64 }),
    );
    expect(result.text).toBe(tokenizer.decode(result.ids));
    expect(result.chunks.length).toBe(result.ids.length);
  });

  it('finishes with "length" and usage counts when max tokens is reached', async () => {
    const prompt = chat('Count to ten.');
    const result = await collect(engine.generate(prompt, { temperature: 0, maxTokens: 5 }));
    const last = result.chunks[result.chunks.length - 1];
    expect(last.finishReason).toBe('length');
    expect(last.usage).toEqual({ promptTokens: engine.countTokens(prompt), completionTokens: 5 });
    expect(result.chunks.slice(0, -1).every((chunk) => chunk.finishReason === undefined)).toBe(true);
  });

  it('stops before a stop sequence and does not emit it', async () => {
    const reference = await collect(engine.generate(chat('Stop test'), { temperature: 0, maxTokens: 40 }));
    const stop = reference.text.slice(10, 13);
    const stopped = await collect(
      engine.generate(chat('Stop test'), { temperature: 0, maxTokens: 40, stop: [stop] }),
    );
    const last = stopped.chunks[stopped.chunks.length - 1];
    expect(last.finishReason).toBe('stop');
    expect(stopped.text).toBe(reference.text.slice(0, reference.text.indexOf(stop)));
  });

  it('gives each concurrent request the same tokens it gets alone', async () => {
    const prompts = [
      'First question',
      'A much longer second question with more words in it',
      'Third',
      'Fourth one here',
    ];
    const alone: number[][] = [];
    for (const prompt of prompts)
      alone.push(
        (
          await collect(
            engine.generate(chat(prompt), { temperature: 0, maxTokens: 12 + (prompt.length % 5) }),
          )
        ).ids,
      );
    const together = await Promise.all(
      prompts.map((prompt) =>
        collect(engine.generate(chat(prompt), { temperature: 0, maxTokens: 12 + (prompt.length % 5) })),
      ),
    );
    expect(together.map((result) => result.ids)).toEqual(alone);
  });

  it('throws QueueFullError at once when the waiting queue is full', async () => {
    const streams = Array.from({ length: 6 }, () =>
      engine.generate(chat('fill'), { temperature: 0, maxTokens: 3 }),
    );
    expect(() => engine.generate(chat('one too many'), { maxTokens: 3 })).toThrow(QueueFullError);
    await Promise.all(streams.map((stream) => collect(stream)));
  });

  it('leaves no abort listener behind on a signal shared by finished requests', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 3; i++)
      await collect(
        engine.generate(chat(`shared ${i}`), { temperature: 0, maxTokens: 2 }, controller.signal),
      );
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('stops within one step when the signal is aborted', async () => {
    const controller = new AbortController();
    const received: GenerationChunk[] = [];
    const stream = engine.generate(
      chat('Go on forever'),
      { temperature: 0, maxTokens: 500 },
      controller.signal,
    );
    await expect(
      (async () => {
        for await (const chunk of stream) {
          received.push(chunk);
          if (received.length === 3) controller.abort();
        }
      })(),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(received.length).toBeLessThanOrEqual(4);
    expect(engine.stats()).toEqual({ running: 0, waiting: 0 });
  });

  it('continues a final assistant message from its text instead of starting a new turn', async () => {
    const started: ChatTurn[] = [...chat('Tell me a story'), { role: 'assistant', content: 'Once upon a time' }];
    const usageOf = async (options: SamplingOptions) =>
      (await collect(engine.generate(started, { maxTokens: 1, temperature: 0, ...options }))).chunks.at(-1)!.usage!
        .promptTokens;
    const continued = await usageOf({ continueFinalMessage: true });
    // The closed turn also has the end-of-turn and a new assistant header.
    expect(continued).toBeLessThan(await usageOf({}));
    expect(continued).toBeGreaterThan(engine.countTokens(chat('Tell me a story')));
    expect(() => engine.generate(chat('Hi'), { maxTokens: 1, continueFinalMessage: true })).toThrow(
      InvalidRequestError,
    );
  });

  it('rejects a priority that is not a finite number', () => {
    expect(() => engine.generate(chat('Hi'), { maxTokens: 2 }, undefined, Number.NaN)).toThrow(
      InvalidRequestError,
    );
  });

  it('serves a higher priority that arrives while other prompts are prefilled, and them too, each as alone', async () => {
    const prompts = ['being prefilled', 'arrives with a higher priority', 'arrives last'];
    const alone: number[][] = [];
    for (const prompt of prompts)
      alone.push((await collect(engine.generate(chat(prompt), { temperature: 0, maxTokens: 6 }))).ids);
    // The first request starts its prefill at once; the others queue while it runs.
    const streams = prompts.map((prompt, index) =>
      collect(
        engine.generate(chat(prompt), { temperature: 0, maxTokens: 6 }, undefined, index === 1 ? 5 : 0),
      ),
    );
    expect((await Promise.all(streams)).map((result) => result.ids)).toEqual(alone);
    expect(engine.stats()).toEqual({ running: 0, waiting: 0 });
  });

  describe('with every batch slot taken', () => {
    // One slot: requests run one after the other, so the order they end in is the order they were admitted in.
    let single: InferenceEngine;
    let served: string[];

    beforeAll(async () => {
      single = await InferenceEngine.load(modelDir, { maxBatchSize: 1, maxQueue: 6 });
    });

    afterAll(() => single.close());

    beforeEach(() => {
      served = [];
    });

    /**
     * Holds the only batch slot until the returned function is called: the
     * request has produced its first token and would run to the end of the
     * context window. Until then nothing leaves the queue, so what a test
     * queues meanwhile waits.
     */
    async function occupySlot(): Promise<() => Promise<unknown>> {
      const stream = single.generate(chat('hold the slot'), {
        temperature: 0,
        maxTokens: 1000,
        ignoreEos: true,
      });
      const iterator = stream[Symbol.asyncIterator]();
      await iterator.next();
      return () => iterator.return!();
    }

    /** Queues a request; resolves to 'served' (noting its name in `served`) or to the name of the error that ended it. */
    function submit(name: string, priority: number, signal?: AbortSignal): Promise<string> {
      return collect(single.generate(chat(name), { temperature: 0, maxTokens: 2 }, signal, priority)).then(
        () => {
          served.push(name);
          return 'served';
        },
        (error: Error) => error.name,
      );
    }

    it('admits waiting requests by priority, first come first served among equals', async () => {
      const release = await occupySlot();
      const outcomes = [
        submit('low a', 1),
        submit('high a', 5),
        submit('background', -2),
        submit('middle', 3.5),
        submit('low b', 1),
        submit('high b', 5),
      ];
      await release();
      expect(await Promise.all(outcomes)).toEqual(Array(6).fill('served'));
      expect(served).toEqual(['high a', 'high b', 'middle', 'low a', 'low b', 'background']);
    });

    it('keeps the order of many mixed priorities, some withdrawn, in a queue filled to the bound', async () => {
      // 40 requests, 5 priorities in a scrambled order, every seventh aborted while it waits.
      const requests = Array.from({ length: 40 }, (_, index) => ({
        name: `r${index}`,
        priority: (index * 7) % 5,
      }));
      const aborted = (index: number) => index % 7 === 3;
      const controllers = requests.map(() => new AbortController());
      const many = await InferenceEngine.load(modelDir, { maxBatchSize: 1, maxQueue: 40 });
      try {
        // Queued right as the first token of the request in the slot arrives: it no longer counts as waiting.
        const holder = many
          .generate(chat('hold'), { temperature: 0, maxTokens: 1000, ignoreEos: true })
          [Symbol.asyncIterator]();
        await holder.next();
        const order: string[] = [];
        const failures: string[] = [];
        const outcomes = requests.map(({ name, priority }, index) =>
          collect(many.generate(chat(name), { maxTokens: 1 }, controllers[index].signal, priority)).then(
            () => order.push(name),
            (error: Error) => failures.push(`${name} ${error.name}`),
          ),
        );
        requests.forEach((_, index) => aborted(index) && controllers[index].abort());
        expect(many.stats()).toEqual({ running: 1, waiting: 40 - 6 });
        await holder.return!();
        await Promise.all(outcomes);
        expect(failures).toEqual(
          ['r3', 'r10', 'r17', 'r24', 'r31', 'r38'].map((name) => `${name} AbortError`),
        );
        const expected = requests
          .filter((_, index) => !aborted(index))
          .sort((a, b) => b.priority - a.priority) // stable, as the queue must be
          .map(({ name }) => name);
        expect(order).toEqual(expected);
      } finally {
        await many.close();
      }
    });

    it('lets a higher priority displace the last of the lowest when the queue is full, and refuses any other', async () => {
      const release = await occupySlot();
      const outcomes = {
        lowA: submit('low a', 1),
        lowB: submit('low b', 1),
        midA: submit('mid a', 3),
        midB: submit('mid b', 3),
        topA: submit('top a', 7),
        topB: submit('top b', 7),
      };
      expect(single.stats()).toEqual({ running: 1, waiting: 6 });
      expect(() => single.generate(chat('as low'), { maxTokens: 2 }, undefined, 1)).toThrow(QueueFullError);
      expect(() => single.generate(chat('lower'), { maxTokens: 2 }, undefined, 0)).toThrow(QueueFullError);
      // An invalid request is refused for what it is and pushes nobody out.
      expect(() => single.generate(chat('invalid'), { maxTokens: 0 }, undefined, 9)).toThrow(
        InvalidRequestError,
      );
      const high = submit('high', 5);
      expect(single.stats()).toEqual({ running: 1, waiting: 6 });
      expect(await outcomes.lowB).toBe('QueueFullError');
      // Then the next of the lowest goes.
      const again = submit('high again', 5);
      expect(await outcomes.lowA).toBe('QueueFullError');
      await release();
      expect(
        await Promise.all([outcomes.midA, outcomes.midB, outcomes.topA, outcomes.topB, high, again]),
      ).toEqual(Array(6).fill('served'));
      expect(served).toEqual(['top a', 'top b', 'high', 'high again', 'mid a', 'mid b']);
    });

    it('takes a cancelled or abandoned request out of the queue at once', async () => {
      const release = await occupySlot();
      const controller = new AbortController();
      const outcomes = [
        submit('a', 2),
        submit('aborted', 9, controller.signal),
        submit('b', 2),
        submit('c', 2),
      ];
      const abandoned = single
        .generate(chat('abandoned'), { maxTokens: 2 }, undefined, 8)
        [Symbol.asyncIterator]();
      outcomes.push(submit('d', 2));
      expect(single.stats().waiting).toBe(6);
      expect(() => single.generate(chat('refused'), { maxTokens: 2 }, undefined, 0)).toThrow(QueueFullError);
      controller.abort();
      await abandoned.return!();
      expect(single.stats().waiting).toBe(4);
      // Both places are free again, even for the lowest priority.
      outcomes.push(submit('late', 0), submit('later', 0));
      await release();
      expect(await Promise.all(outcomes)).toEqual([
        'served',
        'AbortError',
        'served',
        'served',
        'served',
        'served',
        'served',
      ]);
      expect(served).toEqual(['a', 'b', 'c', 'd', 'late', 'later']);
    });
  });
});

describe('InferenceEngine on a graph with fused operators, appending to its own cache', () => {
  let root: string;
  let classic: InferenceEngine;
  let fused: InferenceEngine;
  const prompts = ['First question', 'A much longer second question with more words in it', 'Third', 'Fourth one here', 'Fifth and last'];
  // Up to 45 new tokens: rows cross the cache's 32-column growth steps at different times.
  const settings = (index: number): SamplingOptions => ({ temperature: 0, maxTokens: 9 + 9 * index, ignoreEos: true });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'inference-engine-fused-'));
    await generateModel({ outDir: join(root, 'classic'), preset: 'tiny', seed: 11 });
    await generateModel({ outDir: join(root, 'fused'), preset: 'tiny', seed: 11, fusedOps: true });
    classic = await InferenceEngine.load(join(root, 'classic'), { maxBatchSize: 3 });
    fused = await InferenceEngine.load(join(root, 'fused'), { maxBatchSize: 3 });
  });

  afterAll(async () => {
    await classic.close();
    await fused.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('generates what the classic graph of the same weights generates, alone and batched with requests joining and leaving', async () => {
    const alone: number[][] = [];
    for (const [index, prompt] of prompts.entries()) alone.push((await collect(classic.generate(chat(prompt), settings(index)))).ids);
    const together = await Promise.all(prompts.map((prompt, index) => collect(fused.generate(chat(prompt), settings(index)))));
    expect(together.map((result) => result.ids)).toEqual(alone);
    const fusedAlone: number[][] = [];
    for (const [index, prompt] of prompts.entries()) fusedAlone.push((await collect(fused.generate(chat(prompt), settings(index)))).ids);
    expect(fusedAlone).toEqual(alone);
  });
});

describe('InferenceEngine context window', () => {
  it('rejects prompts that do not fit and stops with "length" at the end of the window', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inference-context-'));
    try {
      await generateModel({ outDir: dir, preset: 'tiny', seed: 5 });
      const engine = await InferenceEngine.load(dir, { contextLength: 40 });
      try {
        expect(engine.contextLength).toBe(40);
        expect(() => engine.generate([{ role: 'user', content: 'x '.repeat(60) }], {})).toThrow(
          InvalidRequestError,
        );
        let tooLong: unknown;
        try {
          engine.generate([{ role: 'user', content: 'x '.repeat(60) }], {});
        } catch (error) {
          tooLong = error;
        }
        expect(tooLong).toMatchObject({ reason: 'context_length_exceeded' });
        const prompt: ChatTurn[] = [{ role: 'user', content: 'Short' }];
        const promptTokens = engine.countTokens(prompt);
        const result = await collect(
          engine.generate(prompt, { temperature: 0, maxTokens: 500, ignoreEos: true }),
        );
        expect(result.chunks[result.chunks.length - 1]).toMatchObject({
          finishReason: 'length',
          usage: { promptTokens, completionTokens: 40 - promptTokens },
        });
      } finally {
        await engine.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('InferenceEngine.load', () => {
  it('names the missing file when a model folder is incomplete', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inference-broken-'));
    try {
      await generateModel({ outDir: dir, preset: 'tiny' });
      unlinkSync(join(dir, 'tokenizer.json'));
      await expect(InferenceEngine.load(dir)).rejects.toThrow(ModelLoadError);
      await expect(InferenceEngine.load(dir)).rejects.toThrow(/tokenizer\.json/);
      await expect(InferenceEngine.load(join(dir, 'nope'))).rejects.toThrow(/does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
