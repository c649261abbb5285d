import type { ChatTurn } from '@chattensor/protocol';

export interface ContextBudget {
  /** The served model's context length in tokens (CONTEXT_TOKENS). */
  contextTokens: number;
  /** Tokens reserved for the answer (the request's max tokens). */
  maxTokens: number;
  /** Characters per token assumed by the estimate (CHARS_PER_TOKEN). */
  charsPerToken: number;
  /** Hard cap on the characters of history sent (CONVERSATION_MAX_CHARS). */
  maxChars: number;
}

/** Tokens a chat template adds around each message (role header and end-of-turn markers). */
const TEMPLATE_TOKENS_PER_MESSAGE = 4;

/** A deliberately pessimistic token count: the gateway has no tokenizer for whatever model a miner serves. */
export function estimateTokens(turns: ChatTurn[], charsPerToken: number): number {
  return turns.reduce(
    (sum, turn) => sum + Math.ceil(turn.content.length / charsPerToken) + TEMPLATE_TOKENS_PER_MESSAGE,
    0,
  );
}

/**
 * The history-trimming policy of a conversation's request:
 *  1. the request's own messages are always sent;
 *  2. the stored system messages are always sent;
 *  3. the stored dialogue is added newest first while the estimate stays
 *     within `contextTokens - maxTokens` tokens and `maxChars` characters;
 *  4. the kept history never starts with an assistant turn (an answer
 *     without its question confuses models more than it helps).
 * Older turns are dropped from what is sent, never from what is stored.
 */
export function fitHistory(
  history: ChatTurn[],
  incoming: ChatTurn[],
  budget: ContextBudget,
): { messages: ChatTurn[]; dropped: number } {
  const system = history.filter((t) => t.role === 'system');
  const dialogue = history.filter((t) => t.role !== 'system');
  const chars = (turns: ChatTurn[]) => turns.reduce((n, t) => n + t.content.length, 0);
  let tokensLeft =
    budget.contextTokens - budget.maxTokens - estimateTokens([...system, ...incoming], budget.charsPerToken);
  let charsLeft = budget.maxChars - chars(system) - chars(incoming);
  let first = dialogue.length;
  while (first > 0) {
    const turn = dialogue[first - 1];
    const tokens = estimateTokens([turn], budget.charsPerToken);
    if (tokens > tokensLeft || turn.content.length > charsLeft) break;
    tokensLeft -= tokens;
    charsLeft -= turn.content.length;
    first--;
  }
  while (first < dialogue.length && dialogue[first].role === 'assistant') first++;
  return { messages: [...system, ...dialogue.slice(first), ...incoming], dropped: first };
}
