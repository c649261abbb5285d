import type { minerV1, Neuron } from '@chattensor/protocol';
import { minerTransportOf } from '../miners/btauth-miner.transport';

/** What the client has already received of one answer when its miner failed. */
export interface DeliveredPart {
  text: string;
  tokens: number;
}

/**
 * The request that resumes an answer on another miner: the text already
 * streamed to the client becomes the start of the assistant's turn
 * (`continue_final_message`), and only the tokens still allowed are asked
 * for. Undefined when nothing is left to generate.
 */
export function continuationRequest(
  request: minerV1.GenerateRequest,
  delivered: DeliveredPart,
): minerV1.GenerateRequest | undefined {
  if (delivered.text === '') return request;
  const sampling = request.sampling;
  const maxTokens = sampling?.maxTokens ? sampling.maxTokens - delivered.tokens : 0;
  if (sampling?.maxTokens && maxTokens < 1) return undefined;
  return {
    ...request,
    messages: [...request.messages, { role: 'assistant', content: delivered.text }],
    continueFinalMessage: true,
    sampling: sampling && { ...sampling, maxTokens },
  };
}

/**
 * Whether a miner's transport can resume a started answer: gRPC and the
 * OpenAI API behind btauth/1 (`continue_final_message`) can. The SDK-10
 * StreamPrompting synapse has no way to say "continue this assistant turn",
 * so those miners only take answers from their start.
 */
export function canContinue(miner: Neuron): boolean {
  return miner.axon !== null && minerTransportOf(miner.axon) !== 'axon';
}

/**
 * The usage reported for an answer that was resumed: the resuming miner
 * counts the delivered text as prompt, the client as completion.
 */
export function combinedUsage(
  usage: { promptTokens: number; completionTokens: number },
  delivered: DeliveredPart,
): { promptTokens: number; completionTokens: number } {
  if (delivered.tokens === 0) return usage;
  return {
    promptTokens: Math.max(0, usage.promptTokens - delivered.tokens),
    completionTokens: usage.completionTokens + delivered.tokens,
  };
}
