import { z } from 'zod';
import { storedMessageSchema } from '../conversations/conversation.store';

/**
 * The bodies the API accepts and returns, besides the chat request (see
 * chat-request.schema.ts). The controllers validate requests with these, and
 * /openapi.json is generated from them; the end-to-end tests check real
 * responses against the response schemas.
 */

/** `POST /v1/conversations`: no body, or an object with an optional title (`null` is refused). */
export const createConversationSchema = z
  .object({ title: z.string().max(200).optional() })
  .optional()
  .describe('Optional; the title defaults to the first question');

/** `POST /admin/keys`. */
export const createApiKeySchema = z
  .object({
    name: z.string().min(1).max(100),
    requests_per_minute: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe('Default KEY_REQUESTS_PER_MINUTE'),
    tokens_per_minute: z
      .number()
      .int()
      .min(1)
      .max(1_000_000_000)
      .optional()
      .describe('Default KEY_TOKENS_PER_MINUTE'),
  })
  .strict();

export const errorSchema = z.object({
  error: z.object({
    message: z.string(),
    type: z
      .string()
      .describe(
        'invalid_request_error, authentication_error, rate_limit_error, server_error, service_unavailable, ...',
      ),
    param: z.string().nullable(),
    code: z
      .string()
      .nullable()
      .describe(
        'context_length_exceeded, model_not_found, invalid_api_key, rate_limit_exceeded, overloaded, ...',
      ),
  }),
});

export const usageSchema = z.object({
  prompt_tokens: z.number().int().min(0),
  completion_tokens: z.number().int().min(0),
  total_tokens: z.number().int().min(0),
});

export const minerRefSchema = z
  .object({
    index: z.number().int().min(0).optional(),
    uid: z.number().int().min(0),
    hotkey: z.string(),
    score: z.number().optional(),
    model: z.string().optional(),
  })
  .describe('ChatTensor extension: the miner that produced an answer');

export const chatCompletionSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  system_fingerprint: z.null(),
  choices: z.array(
    z.object({
      index: z.number().int().min(0),
      message: z.object({ role: z.literal('assistant'), content: z.string(), refusal: z.null() }),
      logprobs: z.null(),
      finish_reason: z.enum(['stop', 'length']),
    }),
  ),
  usage: usageSchema,
  chattensor: z.object({ validator: z.string(), miners: z.array(minerRefSchema) }),
});

export const chatCompletionChunkSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion.chunk'),
  created: z.number().int(),
  model: z.string(),
  system_fingerprint: z.null(),
  choices: z.array(
    z.object({
      index: z.number().int().min(0),
      delta: z.object({ role: z.literal('assistant').optional(), content: z.string().optional() }),
      logprobs: z.null(),
      finish_reason: z.enum(['stop', 'length']).nullable(),
    }),
  ),
  usage: usageSchema
    .optional()
    .describe('Only on the last chunk, with stream_options.include_usage (choices is empty then)'),
  chattensor: z
    .object({ validator: z.string(), miner: minerRefSchema, model: z.string() })
    .optional()
    .describe('On the chunk that finishes a choice: the validator and miner that produced it'),
});

export const modelSchema = z.object({
  id: z.string(),
  object: z.literal('model'),
  created: z.number().int(),
  owned_by: z.string(),
});
export const modelListSchema = z.object({ object: z.literal('list'), data: z.array(modelSchema) });

export const conversationSchema = z.object({
  id: z.string(),
  object: z.literal('conversation'),
  title: z.string(),
  created_at: z.number().int().describe('Milliseconds since the epoch'),
  updated_at: z.number().int().describe('Milliseconds since the epoch'),
});
export const conversationListSchema = z.object({
  object: z.literal('list'),
  data: z.array(conversationSchema),
});
export const storedMessageResponseSchema = storedMessageSchema;
export const conversationWithMessagesSchema = conversationSchema.extend({
  messages: z.array(storedMessageSchema),
});
export const conversationDeletedSchema = z.object({
  id: z.string(),
  object: z.literal('conversation.deleted'),
  deleted: z.literal(true),
});

export const apiKeySchema = z.object({
  id: z.string(),
  object: z.literal('api_key'),
  name: z.string(),
  hint: z.string().describe('First and last characters of the key'),
  created_at: z.number().int().describe('Seconds since the epoch'),
  requests_per_minute: z.number().int(),
  tokens_per_minute: z.number().int(),
});
export const apiKeyCreatedSchema = apiKeySchema.extend({
  key: z.string().startsWith('ct-').describe('The key itself, shown this once'),
});
export const apiKeyListSchema = z.object({ object: z.literal('list'), data: z.array(apiKeySchema) });
export const apiKeyDeletedSchema = z.object({
  id: z.string(),
  object: z.literal('api_key.deleted'),
  deleted: z.literal(true),
});

const nullableNumber = z.number().nullable();
export const statusSchema = z.looseObject({
  netuid: z.number().int(),
  mode: z.enum(['local', 'subtensor']),
  block: z.number().int().nullable(),
  updated_at: z.number().int().nullable(),
  validator: z
    .looseObject({
      hotkey: z.string(),
      uid: z.number().int().nullable(),
      stake: nullableNumber,
      take: nullableNumber,
      total_stake: nullableNumber,
      nominators: z.number().int().nullable(),
      reporting: z.boolean(),
      delegate_command: z.string(),
    })
    .nullable()
    .describe('The validator this gateway serves: hotkey, stake, delegate take and how to delegate to it'),
  hyperparameters: z.looseObject({}),
  delegate: z.looseObject({}).nullable(),
  last_weights: z.looseObject({}).nullable(),
  validators: z.array(
    z.looseObject({
      uid: z.number().int(),
      hotkey: z.string(),
      stake: z.number(),
      validator_permit: z.boolean(),
      reporting: z.boolean(),
    }),
  ),
  miners: z.array(
    z.looseObject({
      uid: z.number().int(),
      hotkey: z.string(),
      model: z.string().nullable(),
      endpoint: z.string().nullable(),
      active: z.boolean(),
      score: nullableNumber,
      weight: nullableNumber,
      incentive: nullableNumber,
      /** Answers checked against the reference model (null while verification is off). */
      verification: z
        .looseObject({
          verified: z.number().int(),
          /** Failed answers by reason. */
          failed: z.record(z.string(), z.number().int()),
          synthetic_verified: z.number().int(),
          synthetic_failed: z.number().int(),
        })
        .nullable(),
      /** Kept from user traffic until then (ms since the epoch) after a failed verification. */
      excluded_until: z.number().int().nullable(),
      /** Recent scores, oldest first. */
      score_history: z.array(z.number()),
      score_history_interval_ms: z.number().int().nullable(),
    }),
  ),
  health: z.looseObject({
    gateway: z.string(),
    chain_indexer: z.string(),
    validators: z.string(),
    miners: z.string(),
    checks: z.record(z.string(), z.unknown()),
  }),
});
