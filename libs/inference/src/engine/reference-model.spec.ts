/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { tinyEngineAndReference } from '../../test/tiny-engine-and-reference';
import { InvalidRequestError } from '../errors';
import { Xoshiro128 } from '../generator/prng';
import { readModelFolder } from '../model/model-folder';
import type { ChatTurn, SamplingOptions } from '../types';
import { DecoderSession } from './decoder-session';
import { emptyKvCache } from './kv-cache';
import { ReferenceModel, scoreToken } from './reference-model';

const chat: ChatTurn[] = [{ role: 'user', content: 'Describe the harbour at dawn in a few words.' }];

describe('ReferenceModel', () => {
  const tiny = tinyEngineAndReference('reference-model', 5);

  async function generate(sampling: SamplingOptions) {
    let text = '';
    const ids: number[] = [];
    let finishReason: string | undefined;
    for await (const chunk of tiny.engine.generate(chat, sampling)) {
      text += chunk.text;
      ids.push(...chunk.tokenIds);
      finishReason = chunk.finishReason ?? finishReason;
    }
    return { text, ids, finishReason };
  }

  it('encodes the chat exactly as the engine does', () => {
    expect(tiny.reference.encodeChat(chat)).toHaveLength(tiny.engine.countTokens(chat));
  });

  it('finds every greedy token of the engine to be the top token in one teacher-forced pass', async () => {
    const sampling = { maxTokens: 24, temperature: 0 };
    const answer = await generate(sampling);
    const prompt = tiny.reference.encodeChat(chat);
    const scores = await tiny.reference.scoreTokens(prompt, answer.ids, tiny.reference.samplerSettings(sampling));
    expect(scores).toHaveLength(answer.ids.length);
    expect(scores.every((s) => s.id === s.topId && s.gap === 0)).toBe(true);
  });

  it('finds a token the engine would not have picked far from the top', async () => {
    const prompt = tiny.reference.encodeChat(chat);
    const answer = await generate({ maxTokens: 4, temperature: 0 });
    const logits = await tiny.reference.logits(prompt, answer.ids);
    const row = logits.subarray(0, tiny.reference.vocabSize);
    let lowest = 0;
    for (let i = 1; i < row.length; i++) if (row[i] < row[lowest]) lowest = i;
    const score = scoreToken(row, lowest, { temperature: 1, topK: 5, topP: 1, minP: 0 });
    expect(score.gap).toBeGreaterThan(1);
    expect(score.outsideBy).toBeGreaterThan(1);
  });

  it('keeps sampled tokens inside what top-k and top-p allowed', async () => {
    const sampling = { maxTokens: 24, temperature: 0.8, topK: 8, topP: 0.9, seed: 11 };
    const answer = await generate(sampling);
    const scores = await tiny.reference.scoreTokens(
      tiny.reference.encodeChat(chat),
      answer.ids,
      tiny.reference.samplerSettings(sampling),
    );
    expect(scores.map((s) => s.outsideBy)).toEqual(answer.ids.map(() => 0));
    expect(scores.every((s) => s.expectedLogprob <= 0 && s.logprobVariance >= 0)).toBe(true);
  });

  it('replays the engine text path: the same text, finish reason and finishing token', async () => {
    const sampling = { maxTokens: 16, temperature: 0 };
    const answer = await generate(sampling);
    const replayed = tiny.reference.replay(tiny.reference.encodeChat(chat).length, answer.ids, sampling);
    expect(replayed).toMatchObject({
      text: answer.text,
      finishReason: answer.finishReason,
      finishedAt: answer.ids.length - 1,
    });
    // A stop string inside that text ends the answer at the token that completes it.
    const stop = answer.text.slice(3, 5);
    const stopped = await generate({ ...sampling, stop: [stop] });
    const again = tiny.reference.replay(tiny.reference.encodeChat(chat).length, stopped.ids, {
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
      tiny.reference.replay(tiny.reference.encodeChat(chat).length, stopped.ids, sampling).finishedAt,
    ).toBeUndefined();
  });

  it('refuses token ids outside the vocabulary with InvalidRequestError', async () => {
    await expect(tiny.reference.logits(tiny.reference.encodeChat(chat), [tiny.reference.vocabSize + 3])).rejects.toThrow(
      InvalidRequestError,
    );
  });

  it('gives the logits of one plain full pass, whether or not a cached prompt start is reused', async () => {
    const folder = readModelFolder(tiny.modelDir);
    const plain = await DecoderSession.create(folder.onnxPath, folder.config, {
      device: 'cpu',
      intraOpThreads: 1,
    });
    const fresh = await ReferenceModel.load(tiny.modelDir, { intraOpThreads: 1 });
    try {
      const vocab = fresh.vocabSize;
      const answer = (await generate({ maxTokens: 12, temperature: 0 })).ids;
      const prompts = [
        fresh.encodeChat(chat),
        // The same system prompt and template start, another question: a partial reuse.
        fresh.encodeChat([{ role: 'user', content: 'Describe the market at noon in a few words.' }]),
        // The first prompt again: reused up to its last token.
        fresh.encodeChat(chat),
      ];
      let largest = 0;
      for (const prompt of prompts) {
        const fed = [...prompt, ...answer.slice(0, -1)];
        const full = await plain.forward({
          batch: 1,
          seqLength: fed.length,
          inputIds: BigInt64Array.from(fed, BigInt),
          positionIds: BigInt64Array.from(fed, (_, index) => BigInt(index)),
          attentionMask: new BigInt64Array(fed.length).fill(1n),
          past: emptyKvCache(plain.layout, 1),
          allLogits: true,
        });
        const expected = full.logits!.subarray((prompt.length - 1) * vocab, fed.length * vocab);
        const ours = await fresh.logits(prompt, answer);
        expect(ours).toHaveLength(expected.length);
        for (let i = 0; i < ours.length; i++) largest = Math.max(largest, Math.abs(ours[i] - expected[i]));
      }
      expect(largest).toBeLessThan(1e-3);
      const stats = fresh.prefixCache;
      expect(stats.entries).toBe(2);
      // The second prompt shares at least its first token with the first; the third is the first again.
      expect(stats.reusedTokens).toBeGreaterThanOrEqual(1 + prompts[0].length - 1);
    } finally {
      await plain.release();
      await fresh.close();
    }
  });

  it('keeps no prompt cache with prefixCacheBytes 0', async () => {
    const uncached = await ReferenceModel.load(tiny.modelDir, {
      intraOpThreads: 1,
      prefixCacheBytes: 0,
    });
    try {
      const prompt = uncached.encodeChat(chat);
      const answer = (await generate({ maxTokens: 4, temperature: 0 })).ids;
      await uncached.logits(prompt, answer);
      await uncached.logits(prompt, answer);
      expect(uncached.prefixCache).toMatchObject({ entries: 0, reusedTokens: 0 });
    } finally {
      await uncached.close();
    }
  });
});

/**
 * The sampler's filters by sorting the whole vocabulary, applied to the probabilities at
 * `filterTemperature`: the kept ids, their weights at the request's temperature, their total
 * and entropy, and the weakest kept logit.
 */
function keptByFullSort(
  logits: Float32Array,
  s: { temperature: number; topK: number; topP: number; minP: number },
  filterTemperature: number,
) {
  let max = -Infinity;
  for (const value of logits) max = Math.max(max, value);
  const probs = Array.from(logits, (value) =>
    value < max - 30 * filterTemperature ? 0 : Math.exp((value - max) / filterTemperature),
  );
  const order = probs.map((_, i) => i).filter((i) => probs[i] > 0 && probs[i] >= s.minP);
  order.sort((a, b) => probs[b] - probs[a] || a - b);
  let kept = s.topK > 0 ? order.slice(0, s.topK) : order;
  if (s.topP < 1) {
    const mass =
      s.topK > 0 ? kept.reduce((sum, i) => sum + probs[i], 0) : probs.reduce((sum, p) => sum + p, 0);
    let cumulative = 0;
    const cut = kept.findIndex((i) => (cumulative += probs[i]) >= s.topP * mass);
    if (cut >= 0) kept = kept.slice(0, cut + 1);
  }
  // Weights at the request's temperature: the filter's own probabilities when that is the filter's temperature.
  const weight = (i: number) =>
    filterTemperature === s.temperature ? probs[i] : Math.exp((logits[i] - max) / s.temperature);
  const mass = kept.reduce((sum, i) => sum + weight(i), 0);
  const entropy = kept.reduce((sum, i) => sum + (weight(i) / mass) * Math.log(weight(i) / mass), 0);
  const filtered = s.topK > 0 || s.topP < 1 || s.minP > 0;
  const weakest = filtered ? Math.min(...kept.map((i) => logits[i])) : -Infinity;
  const logprob = (id: number) => (logits[id] - max) / s.temperature - Math.log(mass);
  return { kept, mass, entropy, weakest, logprob };
}

describe('scoreToken', () => {
  it('keeps exactly the tokens a full sort keeps, in both sampler orders, on flat and peaked distributions', () => {
    const rng = new Xoshiro128(17);
    const vocab = 8192;
    const settings = [
      { temperature: 0.6, topK: 34, topP: 1, minP: 0 },
      { temperature: 1, topK: 20, topP: 0.9, minP: 0 },
      { temperature: 0.8, topK: 0, topP: 0.7, minP: 0 },
      { temperature: 1.2, topK: 0, topP: 1, minP: 0.05 },
      { temperature: 0.5, topK: 40, topP: 0.9, minP: 0.1 },
      { temperature: 1, topK: 0, topP: 1, minP: 0 },
    ];
    let checked = 0;
    for (let trial = 0; trial < 9; trial++) {
      // Flat rows (every candidate floor is crossed), rows with a few strong tokens, and many ties.
      const spread = [0.01, 3, 12][trial % 3];
      const logits = Float32Array.from({ length: vocab }, () => Math.round(rng.nextFloat() * spread * 4) / 4);
      for (let i = 0; i < 5; i++) logits[Math.floor(rng.nextFloat() * vocab)] += 8;
      for (const s of settings) {
        // The engine's order (temperature, then filters) and llama.cpp's (filters, then temperature).
        const first = keptByFullSort(logits, s, s.temperature);
        const last = keptByFullSort(logits, s, 1);
        for (const id of [
          first.kept[0],
          first.kept[first.kept.length - 1],
          Math.floor(rng.nextFloat() * vocab),
        ]) {
          const score = scoreToken(logits, id, s);
          expect(score.outsideBy).toBeCloseTo(
            Math.max(0, Math.min(first.weakest, last.weakest) - logits[id]),
            5,
          );
          expect(score.expectedLogprob).toBeCloseTo(first.entropy, 5);
          expect(score.sampledLogprob).toBeCloseTo(first.logprob(id), 5);
          const other = score.temperatureLast ?? score;
          expect(other.expectedLogprob).toBeCloseTo(last.entropy, 5);
          expect(other.sampledLogprob).toBeCloseTo(last.logprob(id), 5);
          checked++;
        }
      }
    }
    expect(checked).toBe(9 * settings.length * 3);
  });
});
