import { z } from 'zod';
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
