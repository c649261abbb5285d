import { z } from 'zod';
import { AppError, ErrorCode } from '@chattensor/common';

const textPart = z.object({ type: z.literal('text'), text: z.string() });

const messageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant'], {
    message: "must be one of 'system', 'developer', 'user', 'assistant'",
  }),
  content: z
    .union([z.string(), z.array(textPart).min(1)], { message: 'must be a string or an array of text parts' })
    .nullable(),
  name: z.string().optional(),
});

/** `POST /v1/chat/completions`, as the OpenAI API defines it (the parameters ChatTensor honours). */
export const chatCompletionRequestSchema = z.object({
  model: z.string({ message: 'is required' }).min(1, 'must not be empty'),
  messages: z.array(messageSchema, { message: 'is required and must be an array' }),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().min(1).nullish(),
  max_completion_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  n: z.number().int().min(1).max(8).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  user: z.string().max(256).nullish(),
  /** ChatTensor extension: continue a stored conversation. */
  conversation_id: z.string().min(1).max(128).nullish(),
  /** ChatTensor extension: with conversation_id, answer the stored conversation again and replace its last answer. */
  regenerate: z.boolean().nullish(),
  tools: z.array(z.unknown()).nullish(),
  logprobs: z.boolean().nullish(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

/** Validates a request body; the error names the offending parameter as OpenAI does (`messages[0].role`). */
export function parseChatRequest(body: unknown): ChatCompletionRequest {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError(ErrorCode.InvalidRequest, 'The request body must be a JSON object.');
  }
  const result = chatCompletionRequestSchema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    const param = issue.path.reduce<string>(
      (acc, part) =>
        typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part),
      '',
    );
    throw new AppError(ErrorCode.InvalidRequest, `Invalid value for '${param || 'body'}': ${issue.message}`, {
      param: param || undefined,
    });
  }
  const request = result.data;
  if (request.regenerate) {
    if (!request.conversation_id)
      throw new AppError(ErrorCode.InvalidRequest, "'regenerate' needs a 'conversation_id'.", {
        param: 'regenerate',
      });
    if (request.messages.length > 0)
      throw new AppError(ErrorCode.InvalidRequest, "'messages' must be empty when 'regenerate' is true.", {
        param: 'messages',
      });
  } else if (request.messages.length === 0) {
    throw new AppError(
      ErrorCode.InvalidRequest,
      "Invalid value for 'messages': must contain at least one message",
      { param: 'messages' },
    );
  }
  if (request.tools && request.tools.length > 0) {
    throw new AppError(ErrorCode.InvalidRequest, 'Tool calls are not supported by this endpoint.', {
      param: 'tools',
    });
  }
  if (request.logprobs)
    throw new AppError(ErrorCode.InvalidRequest, 'logprobs are not supported.', { param: 'logprobs' });
  return request;
}

/** Message content as plain text (text parts are concatenated). */
export function contentText(content: ChatCompletionRequest['messages'][number]['content']): string {
  if (content === null) return '';
  return typeof content === 'string' ? content : content.map((part) => part.text).join('');
}
