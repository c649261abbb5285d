/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { tinyEngineAndReference } from '../../test/tiny-engine-and-reference';
import type { ChatTurn, SamplingOptions } from '../types';
import { verifyCompletion, type ReturnedAnswer, type Tolerances } from './completion-verifier';

const TOLERANCES: Tolerances = {
  greedyLogitGap: 5,
  greedyMeanGap: 2,
  samplingLogitSlack: 6,
  logprobZ: 12,
  logprobMinTokens: 16,
};
const messages: ChatTurn[] = [{ role: 'user', content: 'What is a lighthouse for?' }];

describe('verifyCompletion', () => {
  const tiny = tinyEngineAndReference('verifier', 9);

  async function honest(sampling: SamplingOptions): Promise<ReturnedAnswer> {
    const answer: ReturnedAnswer = {
      text: '',
      tokenIds: [],
      tokenCount: 0,
      finishReason: '',
      idsFromMiner: true,
    };
    for await (const chunk of tiny.engine.generate(messages, sampling)) {
      answer.text += chunk.text;
      answer.tokenIds.push(...chunk.tokenIds);
      answer.tokenCount += chunk.tokenIds.length;
      if (chunk.finishReason) answer.finishReason = chunk.finishReason;
      if (chunk.usage) answer.usage = chunk.usage;
    }
    return answer;
  }

  const verify = (answer: ReturnedAnswer, sampling: SamplingOptions) =>
    verifyCompletion(tiny.reference, { messages, sampling }, answer, TOLERANCES);

  /** The ids with position `at` replaced by the token the reference likes least there, text and usage kept consistent. */
  async function tampered(
    answer: ReturnedAnswer,
    sampling: SamplingOptions,
    at: number,
  ): Promise<ReturnedAnswer> {
    const prompt = tiny.reference.encodeChat(messages);
    const logits = await tiny.reference.logits(prompt, answer.tokenIds);
    const row = logits.subarray(at * tiny.reference.vocabSize, (at + 1) * tiny.reference.vocabSize);
    let worst = 0;
    for (let i = 0; i < row.length; i++) if (row[i] < row[worst]) worst = i;
    const ids = [...answer.tokenIds];
    ids[at] = worst;
    const replayed = tiny.reference.replay(prompt.length, ids, sampling);
    return { ...answer, tokenIds: ids, text: replayed.text };
  }

  it('verifies an honest greedy answer and an honest sampled one', async () => {
    const greedy = { maxTokens: 20, temperature: 0 };
    expect(await verify(await honest(greedy), greedy)).toMatchObject({ outcome: 'verified', worstGap: 0 });
    const sampled = { maxTokens: 20, temperature: 0.9, topK: 10, seed: 4 };
    expect(await verify(await honest(sampled), sampled)).toMatchObject({ outcome: 'verified' });
  });

  it('fails text that is not the detokenized ids', async () => {
    const sampling = { maxTokens: 12, temperature: 0 };
    const answer = await honest(sampling);
    expect(await verify({ ...answer, text: `${answer.text}!` }, sampling)).toMatchObject({
      outcome: 'failed',
      reason: 'text_mismatch',
    });
  });

  it('fails usage that does not count the ids or the prompt', async () => {
    const sampling = { maxTokens: 12, temperature: 0 };
    const answer = await honest(sampling);
    const usage = answer.usage!;
    for (const wrong of [
      { ...answer, usage: { ...usage, completionTokens: usage.completionTokens + 1 } },
      { ...answer, usage: { ...usage, promptTokens: usage.promptTokens - 1 } },
      { ...answer, tokenCount: answer.tokenCount - 1 },
    ])
      expect(await verify(wrong, sampling)).toMatchObject({ outcome: 'failed', reason: 'usage_mismatch' });
  });

  it('fails an answer cut short and one that runs past its limit', async () => {
    const sampling = { maxTokens: 12, temperature: 0 };
    const answer = await honest(sampling);
    expect(answer.finishReason).toBe('length');
    const prompt = tiny.reference.encodeChat(messages);
    const ids = answer.tokenIds.slice(0, 6);
    const short = {
      ...answer,
      tokenIds: ids,
      tokenCount: 6,
      text: tiny.reference.replay(prompt.length, ids, sampling).text,
      usage: { ...answer.usage!, completionTokens: 6 },
    };
    expect(await verify({ ...short, finishReason: 'stop' }, sampling)).toMatchObject({ reason: 'cut_short' });
    expect(await verify({ ...short, finishReason: 'length' }, sampling)).toMatchObject({
      reason: 'cut_short',
    });
    expect(await verify(answer, { ...sampling, maxTokens: 8 })).toMatchObject({ reason: 'ignored_stop' });
  });

  it('takes an answer that stops at a token llama.cpp ends generation at as finished, and still checks that token', async () => {
    const sampling = { maxTokens: 12, temperature: 0 };
    const answer = await honest(sampling);
    const prompt = tiny.reference.encodeChat(messages);
    const special = Array.from({ length: tiny.reference.vocabSize }, (_, id) => id).filter((id) =>
      tiny.reference.endsGeneration(id),
    );
    expect(special.length).toBeGreaterThan(0);
    const logits = await tiny.reference.logits(prompt, [...answer.tokenIds.slice(0, 6), 0]);
    const row = logits.subarray(6 * tiny.reference.vocabSize, 7 * tiny.reference.vocabSize);
    // The special token the reference likes most after six tokens, and the one it likes least.
    const ranked = [...special].sort((a, b) => row[b] - row[a]);
    for (const [id, expected] of [
      [ranked[0], row[ranked[0]] >= Math.max(...row) - TOLERANCES.greedyLogitGap ? 'verified' : 'failed'],
      [ranked[ranked.length - 1], 'failed'],
    ] as const) {
      const ids = [...answer.tokenIds.slice(0, 6), id];
      const stopped = {
        ...answer,
        tokenIds: ids,
        tokenCount: ids.length,
        text: tiny.reference.replay(prompt.length, ids, sampling).text,
        usage: { ...answer.usage!, completionTokens: ids.length },
        finishReason: 'stop',
      };
      const verdict = await verify(stopped, sampling);
      expect(verdict.outcome).toBe(expected);
      if (verdict.outcome === 'failed') expect(verdict.reason).toBe('not_top_token');
      // Without the special token it was cut short.
      const cut = {
        ...stopped,
        tokenIds: ids.slice(0, -1),
        tokenCount: 6,
        usage: { ...answer.usage!, completionTokens: 6 },
      };
      expect(await verify(cut, sampling)).toMatchObject({ reason: 'cut_short' });
    }
  });

  it('fails a greedy answer with a token far from the top one, and an id outside the vocabulary', async () => {
    const sampling = { maxTokens: 12, temperature: 0 };
    const answer = await honest(sampling);
    expect(await verify(await tampered(answer, sampling, 3), sampling)).toMatchObject({
      outcome: 'failed',
      reason: 'not_top_token',
    });
    const ids = [...answer.tokenIds];
    ids[2] = tiny.reference.vocabSize + 7;
    expect(await verify({ ...answer, tokenIds: ids }, sampling)).toMatchObject({ reason: 'invalid_token' });
  });

  it('fails a sampled answer with a token top-k did not allow', async () => {
    const sampling = { maxTokens: 12, temperature: 0.8, topK: 5, seed: 2 };
    const answer = await honest(sampling);
    const verdict = await verify(await tampered(answer, sampling, 2), sampling);
    expect(verdict).toMatchObject({ outcome: 'failed', reason: 'outside_sampling_set' });
  });

  it('checks text-only answers (SDK axon) over the whole answer: honest text passes, foreign text fails', async () => {
    const sampling = { maxTokens: 16, temperature: 0 };
    const answer = await honest(sampling);
    const textOnly = { ...answer, tokenIds: [], tokenCount: 0, usage: undefined, idsFromMiner: false };
    expect(await verify(textOnly, sampling)).toMatchObject({ outcome: 'verified' });
    const foreign = { ...textOnly, text: 'zebra quantum lattice marmalade '.repeat(3) };
    expect(await verify(foreign, sampling)).toMatchObject({ outcome: 'failed', reason: 'not_top_token' });
  });

  it('fails an answer without token ids', async () => {
    const sampling = { maxTokens: 6, temperature: 0 };
    const answer = await honest(sampling);
    expect(await verify({ ...answer, tokenIds: [], tokenCount: 0 }, sampling)).toMatchObject({
      reason: 'missing_token_ids',
    });
  });
});
