import { z } from 'zod';
import { AxonError } from '../axon/axon-error';
import { defineSynapse, type SynapseFields } from './synapse';

/**
 * The streaming chat synapse of the text-prompting subnets: the conversation
 * as parallel `roles` / `messages` lists, the answer accumulated into
 * `completion`. Only `messages` is covered by the body hash, as those subnets
 * declare it. The sampling fields are optional extensions: a Python peer
 * whose class lacks them ignores them, and one that sends none gets the
 * miner's defaults.
 *
 * On the wire the answer streams as raw UTF-8 text deltas in a
 * `text/event-stream` response (the SDK's BTStreamingResponse passes bytes
 * through unframed); the dendrite appends them to `completion`.
 */
export const StreamPrompting = defineSynapse({
  name: 'StreamPrompting',
  streaming: true,
  schema: z.object({
    roles: z.array(z.string()),
    messages: z.array(z.string()),
    completion: z.string().nullish().transform((value) => value ?? ''),
    max_tokens: z.number().int().positive().nullish(),
    temperature: z.number().min(0).max(100).nullish(),
    top_p: z.number().gt(0).max(1).nullish(),
    seed: z.number().int().nullish(),
  }),
  requiredFields: { roles: [], messages: [] },
  requiredHashFields: ['messages'],
});

export type StreamPromptingFields = SynapseFields<typeof StreamPrompting>;

export type ChatRole = 'system' | 'user' | 'assistant';

export interface StreamPromptingChat {
  messages: { role: ChatRole; content: string }[];
  sampling: { maxTokens?: number; temperature?: number; topP?: number; seed?: number };
}

const ROLES = new Set<string>(['system', 'user', 'assistant']);

/**
 * The conversation and sampling a StreamPrompting asks for, or an
 * AxonError(400) when the roles and messages do not pair up.
 */
export function streamPromptingToChat(fields: StreamPromptingFields): StreamPromptingChat {
  if (fields.roles.length !== fields.messages.length) {
    throw new AxonError(400, `roles and messages differ in length (${fields.roles.length} and ${fields.messages.length})`);
  }
  if (fields.messages.length === 0) throw new AxonError(400, 'messages is empty');
  const messages = fields.roles.map((role, i) => {
    if (!ROLES.has(role)) throw new AxonError(400, `role ${JSON.stringify(role.slice(0, 20))} is not system, user or assistant`);
    return { role: role as ChatRole, content: fields.messages[i] };
  });
  const sampling: StreamPromptingChat['sampling'] = {};
  if (fields.max_tokens != null) sampling.maxTokens = fields.max_tokens;
  if (fields.temperature != null) sampling.temperature = fields.temperature;
  if (fields.top_p != null) sampling.topP = fields.top_p;
  if (fields.seed != null) sampling.seed = fields.seed;
  return { messages, sampling };
}
