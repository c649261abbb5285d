import type { ChatTurn, SamplingOptions } from '@chattensor/inference';
import type { minerV1 } from '@chattensor/protocol';

/**
 * The engine's view of a GenerateRequest: what the miner serves (after its
 * checks in generate-request.util.ts) and what the validator verifies against.
 */
export function requestSampling(request: minerV1.GenerateRequest): {
  messages: ChatTurn[];
  sampling: SamplingOptions;
} {
  const s = request.sampling;
  return {
    messages: request.messages.map((m) => ({ role: m.role as ChatTurn['role'], content: m.content })),
    sampling: {
      maxTokens: s?.maxTokens || 256,
      temperature: s?.temperature,
      topP: s?.topP,
      topK: s?.topK || undefined,
      minP: s?.minP || undefined,
      seed: s?.seed === undefined ? undefined : Number(s.seed),
      stop: s?.stop ?? [],
      presencePenalty: s?.presencePenalty || 0,
      frequencyPenalty: s?.frequencyPenalty || 0,
      repetitionPenalty: s?.repetitionPenalty || undefined,
      // A failover continuation: the final assistant message is the start of the answer.
      continueFinalMessage: request.continueFinalMessage || undefined,
    },
  };
}
