import type { ChatUsage, MinerRef } from '@chattensor/protocol';
import type { FinishedChoice, StartedChat } from './chat.service';

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Usage summed over choices; the prompt is counted once, as OpenAI does for `n` > 1. */
export function usageOf(choices: { usage: ChatUsage }[]): OpenAIUsage {
  const prompt = Math.max(0, ...choices.map((c) => c.usage.promptTokens));
  const completion = choices.reduce((sum, c) => sum + c.usage.completionTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** A `chat.completion` object. `chattensor` carries which miner answered each choice. */
export function chatCompletionJson(chat: StartedChat, choices: FinishedChoice[]) {
  return {
    id: chat.id,
    object: 'chat.completion' as const,
    created: chat.created,
    model: chat.request.model,
    system_fingerprint: null,
    choices: choices.map((c) => ({
      index: c.index,
      message: { role: 'assistant' as const, content: c.text, refusal: null },
      logprobs: null,
      finish_reason: c.finishReason === 'length' ? 'length' : 'stop',
    })),
    usage: usageOf(choices),
    // ChatTensor's extension: who answered each choice, and with which model.
    chattensor: {
      validator: chat.relayed.validator,
      miners: choices.map((c) => ({ index: c.index, ...c.miner, model: c.model })),
    },
  };
}

/** One `chat.completion.chunk`. */
export function chunkJson(
  chat: StartedChat,
  index: number,
  delta: { role?: 'assistant'; content?: string },
  finishReason: 'stop' | 'length' | null,
  end?: { miner: MinerRef & { score?: number }; model: string },
) {
  return {
    id: chat.id,
    object: 'chat.completion.chunk' as const,
    created: chat.created,
    // Every chunk names the requested model, as OpenAI's do; the served one is in `chattensor`.
    model: chat.request.model,
    system_fingerprint: null,
    choices: [{ index, delta, logprobs: null, finish_reason: finishReason }],
    ...(end ? { chattensor: { validator: chat.relayed.validator, miner: end.miner, model: end.model } } : {}),
  };
}

export function sseEvent(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}
