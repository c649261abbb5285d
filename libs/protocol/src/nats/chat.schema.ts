import { z } from 'zod';

export const chatRoleSchema = z.enum(['system', 'user', 'assistant']);

export const chatMessageSchema = z.object({
  role: chatRoleSchema,
  content: z.string(),
});
export type ChatTurn = z.infer<typeof chatMessageSchema>;

export const samplingSchema = z.object({
  maxTokens: z.number().int().min(1).max(32768),
  temperature: z.number().min(0).max(2).optional(),
  topP: z.number().gt(0).max(1).optional(),
  topK: z.number().int().min(0).optional(),
  seed: z.number().int().min(0).optional(),
  stop: z.array(z.string().min(1)).max(4).default([]),
  presencePenalty: z.number().min(-2).max(2).default(0),
  frequencyPenalty: z.number().min(-2).max(2).default(0),
});
export type Sampling = z.infer<typeof samplingSchema>;

/** `ChatJob.model` value that accepts whatever model the network serves. */
export const ANY_MODEL = '*';

/** A chat job, gateway to validator, on `chat.completions`. */
export const chatJobSchema = z.object({
  v: z.literal(1),
  /** One NATS subject token (it names `chat.cancel.<jobId>`): letters, digits, `_` and `-`. */
  jobId: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1-128 letters, digits, _ or -'),
  model: z.string().min(1),
  messages: z.array(chatMessageSchema).min(1),
  sampling: samplingSchema,
  /** Number of answers wanted, each from a different miner. */
  n: z.number().int().min(1).max(8).default(1),
  /** The user's whole-request deadline, epoch milliseconds. */
  deadline: z.number().int().positive(),
  /**
   * Epoch milliseconds after which the gateway no longer waits for `accepted`
   * (it has answered 503 and sent `chat.cancel.<jobId>`): a validator that
   * only gets to the job later should drop it rather than run it for nobody.
   */
  acceptBy: z.number().int().positive().optional(),
});
export type ChatJob = z.infer<typeof chatJobSchema>;

export const minerRefSchema = z.object({
  uid: z.number().int().min(0),
  hotkey: z.string(),
});
export type MinerRef = z.infer<typeof minerRefSchema>;

export const usageSchema = z.object({
  promptTokens: z.number().int().min(0),
  completionTokens: z.number().int().min(0),
});
export type ChatUsage = z.infer<typeof usageSchema>;

export const chatErrorCodeSchema = z.enum([
  'invalid_request',
  'unauthenticated',
  'permission_denied',
  'not_found',
  'payload_too_large',
  'rate_limited',
  'overloaded',
  'unavailable',
  'timeout',
  'cancelled',
  'internal',
]);

/**
 * Frames a validator streams back to the job's reply inbox, in order:
 * `accepted` once, `queued` heartbeats while the job waits for a slot, then
 * `delta`s, then exactly one `end` per choice, or an `error` that ends the job.
 */
export const chatFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('accepted'), validator: z.string() }),
  z.object({
    type: z.literal('delta'),
    index: z.number().int().min(0),
    text: z.string(),
    tokens: z.number().int().min(0),
    miner: minerRefSchema,
  }),
  z.object({
    type: z.literal('end'),
    index: z.number().int().min(0),
    finishReason: z.enum(['stop', 'length', 'cancelled']),
    usage: usageSchema,
    miner: minerRefSchema.extend({ score: z.number().optional() }),
    model: z.string(),
  }),
  z.object({
    type: z.literal('error'),
    /** `invalid_request` is final (the gateway answers 400, nobody retries); `overloaded` / `unavailable` carry retryAfterSeconds. */
    code: chatErrorCodeSchema,
    message: z.string(),
    retryAfterSeconds: z.number().optional(),
    /** Finer reason reported as the API's error code, e.g. `context_length_exceeded`. */
    reason: z.string().max(64).optional(),
    /** The request parameter to blame, e.g. `messages`. */
    param: z.string().max(128).optional(),
  }),
  /** Sent every few seconds while the job waits for a slot in the validator's admission queue (1 = next). */
  z.object({ type: z.literal('queued'), position: z.number().int().min(1) }),
]);
export type ChatFrame = z.infer<typeof chatFrameSchema>;
