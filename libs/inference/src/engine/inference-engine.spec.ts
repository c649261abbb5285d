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
