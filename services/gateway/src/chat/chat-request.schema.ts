import { z } from 'zod';
import { AppError, ErrorCode } from '@chattensor/common';

/**
 * `POST /v1/chat/completions` as the OpenAI API defines it (the parameters
 * ChatTensor honours), in zod: the server validates with these schemas and
 * /openapi.json is generated from the very same objects, so the document
 * cannot promise more or less than the server accepts.
 */

export const textPartSchema = z.object({ type: z.literal('text'), text: z.string() });

export const chatMessageSchema = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant'], {
      message: "must be one of 'system', 'developer', 'user', 'assistant'",
    }),
    content: z
      .union([z.string(), z.array(textPartSchema).min(1)], {
        message: 'must be a string or an array of text parts',
      })
      .nullable(),
    name: z.string().optional(),
  })
  .describe('`developer` is sent to the model as `system`; `null` content is an empty message');

/**
 * Smallest top_p sent on: below it nucleus sampling keeps only the most
 * likely token anyway (its probability is at least 1/vocabulary, above 1e-6
 * for any vocabulary under a million tokens), and the value survives the
 * miner protocol's 32-bit float, where 1e-50 would become 0.
 */
export const MIN_WIRE_TOP_P = 1e-6;

export interface ChatRequestLimits {
  /** MAX_TOKENS_LIMIT: the largest max_tokens / max_completion_tokens accepted. */
  maxTokens: number;
}

/** The two shapes of a chat request: a question, or (ChatTensor extension) regenerating a stored conversation's last answer. */
export function chatRequestSchemas(limits: ChatRequestLimits) {
  const maxTokens = z.number().int().min(1).max(limits.maxTokens);
  const common = {
    model: z
      .string({ message: 'is required' })
      .min(1, 'must not be empty')
      .describe('A model id from /v1/models'),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
    max_tokens: maxTokens.nullish().describe('Deprecated alias of max_completion_tokens'),
    max_completion_tokens: maxTokens
      .nullish()
      .describe(
        `Answer length; default DEFAULT_MAX_TOKENS, at most MAX_TOKENS_LIMIT (${limits.maxTokens} here)`,
      ),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z
      .number()
      .min(0)
      .max(1)
      .nullish()
      .describe(
        `Nucleus mass; values under ${MIN_WIRE_TOP_P} (0 included) keep only the most likely token, as ${MIN_WIRE_TOP_P} does`,
      ),
    n: z
      .number()
      .int()
      .min(1)
      .max(8)
      .nullish()
      .describe('Answers wanted; each comes from a different miner when enough are available'),
    stop: z
      .union([z.string(), z.array(z.string()).max(4)])
      .nullish()
      .describe('Up to 4 sequences that end the answer (empty strings are ignored)'),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
    presence_penalty: z.number().min(-2).max(2).nullish(),
    frequency_penalty: z.number().min(-2).max(2).nullish(),
    user: z.string().max(256).nullish(),
    conversation_id: z
      .string()
      .min(1)
      .max(128)
      .nullish()
      .describe(
        'ChatTensor extension: continue this stored conversation (its history is sent, trimmed to the context)',
      ),
    tools: z.array(z.unknown()).max(0, 'Tool calls are not supported by this endpoint.').nullish(),
    logprobs: z.literal(false, { message: 'logprobs are not supported.' }).nullish(),
  };
  const ask = z
    .object({
      ...common,
      messages: z
        .array(chatMessageSchema, { message: 'is required and must be an array' })
        .min(1, 'must contain at least one message'),
      regenerate: z.literal(false).nullish(),
    })
    .describe('A question: at least one message');
  const regenerate = z
    .object({
      ...common,
      conversation_id: z
        .string({ message: "is required when 'regenerate' is true" })
        .min(1)
        .max(128)
        .describe('The stored conversation whose last answer is regenerated'),
      messages: z
        .array(chatMessageSchema, { message: 'is required and must be an array' })
        .max(0, "must be empty when 'regenerate' is true"),
      regenerate: z
        .literal(true)
        .describe('ChatTensor extension: answer the stored conversation again and replace its last answer'),
    })
    .describe('ChatTensor extension: regenerate the last answer of a stored conversation');
  return { ask, regenerate, request: z.union([ask, regenerate]) };
}

export type ChatCompletionRequest =
  | z.output<ReturnType<typeof chatRequestSchemas>['ask']>
  | z.output<ReturnType<typeof chatRequestSchemas>['regenerate']>;
export type ChatMessage = z.output<typeof chatMessageSchema>;

/** `messages[0].role` from a zod issue path, as OpenAI names parameters. */
export function paramOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, part) =>
      typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part),
    '',
  );
}

/** Throws InvalidRequest naming the first offending parameter, as OpenAI does (`Invalid value for 'messages[0].role': ...`). */
export function parseWith<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const param = paramOf(issue.path);
  throw new AppError(ErrorCode.InvalidRequest, `Invalid value for '${param || 'body'}': ${issue.message}`, {
    param: param || undefined,
  });
}

/** Validates a request body with the schema of its shape (regenerating or asking), so the error is precise. */
export function parseChatRequest(
  body: unknown,
  schemas: ReturnType<typeof chatRequestSchemas> = defaultSchemas,
): ChatCompletionRequest {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError(ErrorCode.InvalidRequest, 'The request body must be a JSON object.');
  }
  return (body as { regenerate?: unknown }).regenerate === true
    ? parseWith(schemas.regenerate, body)
    : parseWith(schemas.ask, body);
}

const defaultSchemas = chatRequestSchemas({ maxTokens: 32768 });

/** Message content as plain text (text parts are concatenated). */
export function contentText(content: ChatMessage['content']): string {
  if (content === null) return '';
  return typeof content === 'string' ? content : content.map((part) => part.text).join('');
}
