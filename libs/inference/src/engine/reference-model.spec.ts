/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidRequestError } from '../errors';
import { generateModel } from '../generator/generate-model';
import type { ChatTurn, SamplingOptions } from '../types';
import { InferenceEngine } from './inference-engine';
import { ReferenceModel, scoreToken } from './reference-model';

const chat: ChatTurn[] = [{ role: 'user', content: 'Describe the harbour at dawn in a few words.' }];

describe('ReferenceModel', () => {
  let root: string;
  let engine: InferenceEngine;
  let reference: ReferenceModel;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'reference-model-'));
    await generateModel({ outDir: join(root, 'tiny'), preset: 'tiny', seed: 5 });
    engine = await InferenceEngine.load(join(root, 'tiny'), { maxBatchSize: 2, intraOpThreads: 1 });
    reference = await ReferenceModel.load(join(root, 'tiny'), { intraOpThreads: 1 });
  });

  afterAll(async () => {
    await engine.close();
    await reference.close();
    rmSync(root, { recursive: true, force: true });
  });

  async function generate(sampling: SamplingOptions) {
    let text = '';
    const ids: number[] = [];
    let finishReason: string | undefined;
    for await (const chunk of engine.generate(chat, sampling)) {
      text += chunk.text;
      ids.push(...chunk.tokenIds);
      finishReason = chunk.finishReason ?? finishReason;
    }
    return { text, ids, finishReason };
  }

  it('encodes the chat exactly as the engine does', () => {
    expect(reference.encodeChat(chat)).toHaveLength(engine.countTokens(chat));
  });

  it('finds every greedy token of the engine to be the top token in one teacher-forced pass', async () => {
    const sampling = { maxTokens: 24, temperature: 0 };
    const answer = await generate(sampling);
    const prompt = reference.encodeChat(chat);
    const scores = await reference.scoreTokens(prompt, answer.ids, reference.samplerSettings(sampling));
    expect(scores).toHaveLength(answer.ids.length);
    expect(scores.every((s) => s.id === s.topId && s.gap === 0)).toBe(true);
    expect(scores.every((s) => s.logprob < 0)).toBe(true);
  });

  it('finds a token the engine would not have picked far from the top', async () => {
    const prompt = reference.encodeChat(chat);
    const answer = await generate({ maxTokens: 4, temperature: 0 });
    const logits = await reference.logits(prompt, answer.ids);
    const row = logits.subarray(0, reference.vocabSize);
    let lowest = 0;
    for (let i = 1; i < row.length; i++) if (row[i] < row[lowest]) lowest = i;
    const score = scoreToken(row, lowest, { temperature: 1, topK: 5, topP: 1, minP: 0 });
    expect(score.gap).toBeGreaterThan(1);
    expect(score.outsideBy).toBeGreaterThan(1);
  });

  it('keeps sampled tokens inside what top-k and top-p allowed', async () => {
    const sampling = { maxTokens: 24, temperature: 0.8, topK: 8, topP: 0.9, seed: 11 };
    const answer = await generate(sampling);
    const scores = await reference.scoreTokens(
      reference.encodeChat(chat),
      answer.ids,
      reference.samplerSettings(sampling),
    );
    expect(scores.map((s) => s.outsideBy)).toEqual(answer.ids.map(() => 0));
    expect(scores.every((s) => s.expectedLogprob <= 0 && s.logprobVariance >= 0)).toBe(true);
  });

  it('replays the engine text path: the same text, finish reason and finishing token', async () => {
    const sampling = { maxTokens: 16, temperature: 0 };
    const answer = await generate(sampling);
    const replayed = reference.replay(reference.encodeChat(chat).length, answer.ids, sampling);
    expect(replayed).toMatchObject({
      text: answer.text,
      finishReason: answer.finishReason,
      finishedAt: answer.ids.length - 1,
    });
    // A stop string inside that text ends the answer at the token that completes it.
    const stop = answer.text.slice(3, 5);
    const stopped = await generate({ ...sampling, stop: [stop] });
    const again = reference.replay(reference.encodeChat(chat).length, stopped.ids, {
      ...sampling,
      stop: [stop],
    });
    expect(again).toMatchObject({
      text: stopped.text,
      finishReason: 'stop',
      finishedAt: stopped.ids.length - 1,
    });
    expect(again.text).not.toContain(stop);
    // The same ids without the stop string would run on.
    expect(
      reference.replay(reference.encodeChat(chat).length, stopped.ids, sampling).finishedAt,
    ).toBeUndefined();
  });

  it('refuses token ids outside the vocabulary with InvalidRequestError', async () => {
    await expect(reference.logits(reference.encodeChat(chat), [reference.vocabSize + 3])).rejects.toThrow(
      InvalidRequestError,
    );
  });
});
