import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { BtAuthError, verifyBtAuth, type BtAuthCaller } from '@chattensor/bittensor';
import { AppError, ErrorCode, counter, rootLogger } from '@chattensor/common';
import type { minerV1 } from '@chattensor/protocol';
import { GenerationService } from '../generation/generation.service';
import { CallerPolicy } from '../grpc/caller-policy.service';
import { toEngineInput } from '../grpc/generate-request.util';
import { MinerIdentity } from '../identity/miner-identity';
import { AXON_CONFIG, type AxonConfig } from './axon.config';
import { MinerNonceStore } from './miner-nonce-store';

export const CHAT_COMPLETIONS_PATH = '/v1/chat/completions';
export const MODELS_PATH = '/v1/models';
const MAX_TOKENS_LIMIT = 32_768;

const contentSchema = z.union([
  z.string(),
  z
    .array(z.object({ type: z.literal('text'), text: z.string() }).passthrough())
    .transform((parts) => parts.map((p) => p.text).join('')),
]);

/** The OpenAI chat request, as far as this miner reads it; unknown fields are ignored as OpenAI-compatible servers do. */
const chatRequestSchema = z
  .object({
    model: z.string().optional(),
    messages: z
      .array(z.object({ role: z.string(), content: contentSchema.nullable().optional() }).passthrough())
      .min(1, 'messages must not be empty'),
    stream: z.boolean().nullable().optional(),
    stream_options: z
      .object({ include_usage: z.boolean().nullable().optional() })
      .passthrough()
      .nullable()
      .optional(),
    max_tokens: z.number().int().positive().nullable().optional(),
    max_completion_tokens: z.number().int().positive().nullable().optional(),
    temperature: z.number().nullable().optional(),
    top_p: z.number().nullable().optional(),
    top_k: z.number().int().min(0).nullable().optional(),
    min_p: z.number().min(0).max(1).nullable().optional(),
    repetition_penalty: z.number().min(0).nullable().optional(),
    presence_penalty: z.number().min(-2).max(2).nullable().optional(),
    frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
    stop: z
      .union([z.string(), z.array(z.string()).max(4)])
      .nullable()
      .optional(),
    n: z.literal(1, { message: 'only n=1 is supported' }).nullable().optional(),
    // vLLM's and SGLang's extensions: continue the last (assistant) message instead of answering it,
    // as a validator does to resume an answer another miner left unfinished.
    continue_final_message: z.boolean().nullable().optional(),
    add_generation_prompt: z.boolean().nullable().optional(),
  })
  .passthrough()
  .refine((body) => !(body.continue_final_message === true && body.add_generation_prompt === true), {
    message: 'add_generation_prompt and continue_final_message cannot both be true',
    path: ['continue_final_message'],
  });
type ChatRequest = z.infer<typeof chatRequestSchema>;

interface OpenAIError {
  status: number;
  body: { error: { message: string; type: string; param: string | null; code: string | null } };
  retryAfterSeconds?: number;
}

function openAIError(
  status: number,
  type: string,
  message: string,
  code: string | null,
  param: string | null = null,
): OpenAIError {
  return { status, body: { error: { message, type, param, code } } };
}

/** Domain errors as OpenAI error objects, with the statuses the gateway uses for the same codes. */
function openAIErrorOf(error: unknown): OpenAIError {
  if (error instanceof BtAuthError) {
    return error.httpStatus === 403
      ? openAIError(403, 'permission_error', error.message, 'wrong_receiver')
      : openAIError(401, 'authentication_error', error.message, `btauth_${error.kind}`);
  }
  if (!(error instanceof AppError))
    return openAIError(500, 'server_error', `internal error (error id ${randomUUID()})`, 'internal_error');
  const param = error.param ?? null;
  switch (error.code) {
    case ErrorCode.InvalidRequest:
      return openAIError(400, 'invalid_request_error', error.message, error.reason ?? null, param);
    case ErrorCode.PayloadTooLarge:
      return openAIError(413, 'invalid_request_error', error.message, 'payload_too_large', param);
    case ErrorCode.Unauthenticated:
      return openAIError(401, 'authentication_error', error.message, null);
    case ErrorCode.PermissionDenied:
      return openAIError(403, 'permission_error', error.message, 'permission_denied');
    case ErrorCode.NotFound:
      return openAIError(404, 'invalid_request_error', error.message, error.reason ?? 'not_found', param);
    case ErrorCode.RateLimited:
    case ErrorCode.Overloaded:
      return {
        ...openAIError(
          429,
          'rate_limit_error',
          error.message,
          error.code === ErrorCode.Overloaded ? 'overloaded' : 'rate_limit_exceeded',
        ),
        retryAfterSeconds: error.retryAfterSeconds ?? 1,
      };
    case ErrorCode.Unavailable:
      return {
        ...openAIError(503, 'service_unavailable', error.message, 'unavailable'),
        retryAfterSeconds: error.retryAfterSeconds ?? 1,
      };
    case ErrorCode.Timeout:
      return openAIError(504, 'timeout', error.message, 'timeout');
    case ErrorCode.Cancelled:
      return openAIError(499, 'cancelled', error.message, 'cancelled');
    case ErrorCode.Internal:
      return openAIError(500, 'server_error', `internal error (error id ${randomUUID()})`, 'internal_error');
  }
}

function sendError(res: ServerResponse, error: OpenAIError): void {
  if (res.headersSent) return;
  const body = JSON.stringify(error.body);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
  };
  if (error.retryAfterSeconds !== undefined)
    headers['retry-after'] = String(Math.ceil(error.retryAfterSeconds));
  res.writeHead(error.status, headers);
  res.end(body);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new AppError(ErrorCode.PayloadTooLarge, `request body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The OpenAI body as the miner's GenerateRequest, so both public transports validate alike (toEngineInput). */
function toGenerateRequest(body: ChatRequest, requestId: string): minerV1.GenerateRequest {
  return {
    requestId,
    model: body.model ?? '',
    messages: body.messages.map((m) => ({ role: m.role, content: m.content ?? '' })),
    sampling: {
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? 0,
      temperature: body.temperature ?? undefined,
      topP: body.top_p ?? undefined,
      topK: body.top_k ?? 0,
      seed: body.seed === undefined || body.seed === null ? undefined : BigInt(body.seed),
      stop: typeof body.stop === 'string' ? [body.stop] : (body.stop ?? []),
      presencePenalty: body.presence_penalty ?? 0,
      frequencyPenalty: body.frequency_penalty ?? 0,
      minP: body.min_p ?? 0,
      repetitionPenalty: body.repetition_penalty ?? 0,
    },
    continueFinalMessage: body.continue_final_message === true ? true : undefined,
  };
}

function parseChatRequest(raw: Buffer): ChatRequest {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new AppError(ErrorCode.InvalidRequest, 'request body is not valid JSON');
  }
  const parsed = chatRequestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const param = issue.path.join('.') || null;
    throw new AppError(
      ErrorCode.InvalidRequest,
      param ? `${param}: ${issue.message}` : issue.message,
      param ? { param } : {},
    );
  }
  return parsed.data;
}

/**
 * The miner's OpenAI-compatible `POST /v1/chat/completions` behind btauth/1,
 * on the public axon port: any current-SDK validator signs the request with
 * `bittensor.http_auth.sign` (receiver: this miner's hotkey) and sends it with
 * any HTTP client. The order is: btauth/1 verification of the raw bytes
 * (401/403), then the caller policy (validator permit, or the standalone
 * allow-list: 403), then the body (400), then generation. Answers are the
 * OpenAI chat completion (JSON) or its SSE chunks, each carrying the token
 * ids it covers (`token_ids`, as vLLM returns them) and the usage (in the
 * last chunk when `stream_options.include_usage` is set).
 */
@Injectable()
export class ChatCompletionsEndpoint {
  private readonly log = rootLogger().child({ component: 'miner-openai' });
  private readonly requests = counter({
    name: 'chattensor_miner_openai_requests_total',
    help: 'btauth/1 OpenAI-compatible requests on the public port, by HTTP status',
    labelNames: ['status'],
  });

  constructor(
    @Inject(AXON_CONFIG) private readonly config: AxonConfig,
    private readonly nonceStore: MinerNonceStore,
    private readonly identity: MinerIdentity,
    private readonly generation: GenerationService,
    private readonly policy: CallerPolicy,
  ) {}

  /** Whether a request target belongs to this endpoint (anything under /v1/). */
  static owns(url: string | undefined): boolean {
    return (url ?? '').split('?')[0].startsWith('/v1/');
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    void this.serve(req, res).catch((error: unknown) => {
      this.log.error({ err: error }, 'openai request failed');
      if (!res.headersSent) sendError(res, openAIErrorOf(error));
      else res.end();
    });
    res.on('finish', () => this.requests.inc({ status: String(res.statusCode) }));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '/';
    const path = target.split('?')[0];
    const method = req.method ?? 'GET';
    const route = path === CHAT_COMPLETIONS_PATH ? 'chat' : path === MODELS_PATH ? 'models' : undefined;
    if (!route)
      return sendError(
        res,
        openAIError(404, 'invalid_request_error', `no route ${method} ${path}`, 'not_found'),
      );
    if ((route === 'chat' && method !== 'POST') || (route === 'models' && method !== 'GET')) {
      return sendError(
        res,
        openAIError(
          405,
          'invalid_request_error',
          `method ${method} is not allowed on ${path}`,
          'method_not_allowed',
        ),
      );
    }
    let caller: BtAuthCaller;
    let raw: Buffer;
    try {
      raw = await readBody(req, this.config.bodyLimitBytes);
    } catch (error) {
      return sendError(res, openAIErrorOf(error));
    }
    try {
      caller = await verifyBtAuth(req.headers, raw, {
        method,
        path: target,
        selfHotkey: this.identity.hotkey.ss58Address,
        nonceStore: this.nonceStore,
      });
    } catch (error) {
      if (error instanceof BtAuthError) this.log.debug({ reason: error.name }, 'btauth/1 request refused');
      else if (!(error instanceof AppError))
        throw new AppError(ErrorCode.Unavailable, 'the replay store is unavailable', { cause: error });
      return sendError(res, openAIErrorOf(error));
    }
    let priority: number;
    try {
      priority = this.policy.admit(caller.hotkey);
    } catch (error) {
      return sendError(res, openAIErrorOf(error));
    }
    if (route === 'models') return this.models(res);
    const id = `chatcmpl-${randomUUID()}`;
    let body: ChatRequest;
    let input: ReturnType<typeof toEngineInput>;
    try {
      body = parseChatRequest(raw);
      // `model` is accepted whatever it names, as on the gRPC path; the answer says which model served it.
      input = toEngineInput(toGenerateRequest(body, id), MAX_TOKENS_LIMIT);
    } catch (error) {
      return sendError(res, openAIErrorOf(error));
    }
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, this.config.maxTimeoutSeconds * 1000);
    timer.unref();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    try {
      const chunks = this.generation.generate(input.messages, input.sampling, abort.signal, priority);
      if (body.stream) await this.stream(res, chunks, id, body.stream_options?.include_usage === true);
      else await this.json(res, chunks, id);
    } catch (error) {
      const failure = timedOut
        ? new AppError(ErrorCode.Timeout, 'generation exceeded the request timeout')
        : error;
      if (!(failure instanceof AppError)) this.log.error({ err: failure }, 'generation failed');
      if (!res.headersSent) return sendError(res, openAIErrorOf(failure));
      // The stream has started: the error travels as an SSE event, then the stream ends.
      if (!res.writableEnded)
        res.end(`data: ${JSON.stringify(openAIErrorOf(failure).body)}\n\ndata: [DONE]\n\n`);
    } finally {
      clearTimeout(timer);
    }
  }

  private models(res: ServerResponse): void {
    const body = JSON.stringify({
      object: 'list',
      data: [
        {
          id: this.generation.modelName,
          object: 'model',
          created: 0,
          owned_by: this.identity.hotkey.ss58Address,
        },
      ],
    });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    });
    res.end(body);
  }

  private async json(
    res: ServerResponse,
    chunks: ReturnType<GenerationService['generate']>,
    id: string,
  ): Promise<void> {
    let content = '';
    const tokenIds: number[] = [];
    let finishReason = 'stop';
    let usage = { promptTokens: 0, completionTokens: 0 };
    for await (const chunk of chunks) {
      content += chunk.text;
      tokenIds.push(...chunk.tokenIds);
      if (chunk.finishReason) finishReason = chunk.finishReason;
      if (chunk.usage) usage = chunk.usage;
    }
    const body = JSON.stringify({
      id,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: this.generation.modelName,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content },
          finish_reason: finishReason,
          token_ids: tokenIds,
        },
      ],
      usage: usageOf(usage),
    });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    });
    res.end(body);
  }

  private async stream(
    res: ServerResponse,
    chunks: ReturnType<GenerationService['generate']>,
    id: string,
    includeUsage: boolean,
  ): Promise<void> {
    const created = Math.floor(Date.now() / 1000);
    const model = this.generation.modelName;
    const frame = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`;
    const write = async (text: string) => {
      if (!res.write(text))
        await new Promise<void>((resolve) => res.once('drain', resolve).once('close', resolve));
    };
    let usage: { promptTokens: number; completionTokens: number } | undefined;
    for await (const chunk of chunks) {
      if (!res.headersSent) {
        // The status goes out with the first chunk, so a refusal before it (queue full) keeps its own status.
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
        });
        await write(
          frame([
            { index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, token_ids: [] },
          ]),
        );
      }
      if (res.destroyed) return;
      if (chunk.usage) usage = chunk.usage;
      if (chunk.text || chunk.tokenIds.length > 0)
        await write(
          frame([
            { index: 0, delta: { content: chunk.text }, finish_reason: null, token_ids: chunk.tokenIds },
          ]),
        );
      if (chunk.finishReason)
        await write(frame([{ index: 0, delta: {}, finish_reason: chunk.finishReason, token_ids: [] }]));
    }
    if (!res.headersSent)
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (includeUsage)
      await write(frame([], { usage: usageOf(usage ?? { promptTokens: 0, completionTokens: 0 }) }));
    res.end('data: [DONE]\n\n');
  }
}

function usageOf(usage: { promptTokens: number; completionTokens: number }) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}
