import type { ChatTurn, ReferenceModel, ReturnedAnswer, SamplingOptions } from '@chattensor/inference';

/** A request as the verifier sees it: the conversation and the engine's sampling options. */
export interface ServedQuestion {
  messages: ChatTurn[];
  sampling: SamplingOptions;
}

/**
 * What a serving layer streams for a model's raw token ids: cut where the
 * engine's text path ends generation (end of turn, stop string, length), with
 * that text, finish reason and usage. `relabel` sets the request's max_tokens
 * to the ids' length, so that a cheater's ids of any length look finished and
 * only the token checks can catch them. Returns the request as relabelled.
 */
export function servedAnswer(
  reference: ReferenceModel,
  question: ServedQuestion,
  ids: number[],
  relabel = false,
): { sampling: SamplingOptions; answer: ReturnedAnswer } {
  const promptIds = reference.encodeChat(question.messages);
  const sampling = relabel ? { ...question.sampling, maxTokens: Math.max(1, ids.length) } : question.sampling;
  const replayed = reference.replay(promptIds.length, ids, sampling);
  const kept = ids.slice(0, (replayed.finishedAt ?? ids.length - 1) + 1);
  const final = reference.replay(promptIds.length, kept, sampling);
  return {
    sampling,
    answer: {
      text: final.text,
      tokenIds: kept,
      tokenCount: kept.length,
      // A server stops before the limit only at an end of generation: llama.cpp's set is wider than the engine's.
      finishReason: final.finishReason ?? (kept.length < final.maxTokens ? 'stop' : 'length'),
      usage: { promptTokens: promptIds.length, completionTokens: kept.length },
      idsFromMiner: true,
    },
  };
}

/**
 * llama_oracle.py `generate` jobs for the questions: the prompt ids, the
 * request's length limit and its resolved sampler settings and seed (llama.cpp
 * gets a fresh cache per job).
 */
export function llamaGenerateJobs(reference: ReferenceModel, questions: ServedQuestion[]): Record<string, unknown>[] {
  return questions.map((q) => {
    const prompt = reference.encodeChat(q.messages);
    const s = reference.samplerSettings(q.sampling);
    return {
      prompt,
      n: reference.replay(prompt.length, [], q.sampling).maxTokens,
      temp: s.temperature,
      top_k: s.topK,
      top_p: s.topP,
      min_p: s.minP,
      seed: q.sampling.seed ?? 0,
    };
  });
}
