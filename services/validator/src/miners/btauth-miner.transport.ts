import { signBtAuth, type Keypair } from '@chattensor/bittensor';
import { AppError, ErrorCode } from '@chattensor/common';
import { AxonProtocol, type AxonInfo, type minerV1, type Neuron } from '@chattensor/protocol';

/** The OpenAI chat route a btauth/1 miner serves. */
export const BTAUTH_CHAT_PATH = '/v1/chat/completions';

/**
 * `AxonInfo.version` from which an HTTP axon (protocol 4) is an SDK-10 axon:
 * bittensor 10.x and older publish their `version_as_int` (major × 10^6 + …,
 * 10.5.0 is 10005000), while `serve_axon` of the current SDK (11.x) publishes
 * 1 by default and a ChatTensor miner 0.
 */
export const SDK10_AXON_MIN_VERSION = 1_000_000;

export type MinerTransport = 'grpc' | 'btauth' | 'axon';

/**
 * Which protocol a miner speaks, from its axon info on chain (or in the
 * local metagraph): protocol 0 is ChatTensor's in-cluster gRPC; protocol 4
 * (the SDK's HTTP) with a version below 1,000,000 is the OpenAI-compatible
 * API behind btauth/1; protocol 4 with a version_as_int of 1,000,000 or more
 * is a legacy SDK-10 axon (`StreamPrompting`).
 */
export function minerTransportOf(axon: Pick<AxonInfo, 'protocol' | 'version'>): MinerTransport {
  if (axon.protocol !== AxonProtocol.bittensorHttp) return 'grpc';
  return axon.version >= SDK10_AXON_MIN_VERSION ? 'axon' : 'btauth';
}

function errorOfStatus(status: number, message: string): AppError {
  const text = `miner answered ${status}: ${message}`;
  switch (status) {
    case 400:
    case 404:
    case 413:
    case 422:
      return new AppError(ErrorCode.InvalidRequest, text);
    case 401:
      return new AppError(ErrorCode.Unauthenticated, text);
    case 403:
      return new AppError(ErrorCode.PermissionDenied, text);
    case 408:
    case 504:
      return new AppError(ErrorCode.Timeout, text);
    case 429:
      return new AppError(ErrorCode.Overloaded, text);
    case 503:
      return new AppError(ErrorCode.Unavailable, text);
    default:
      return new AppError(ErrorCode.Internal, text);
  }
}

interface ChunkJson {
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null; token_ids?: number[] }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  model?: string;
  error?: { message?: string; type?: string };
}

/** The OpenAI request body for a GenerateRequest; non-OpenAI sampling knobs only when set. */
export function openAIChatBody(request: minerV1.GenerateRequest): Record<string, unknown> {
  const s = request.sampling;
  const body: Record<string, unknown> = {
    ...(request.model ? { model: request.model } : {}),
    messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
    stream: true,
    stream_options: { include_usage: true },
  };
  if (s?.maxTokens) body.max_tokens = s.maxTokens;
  if (s?.temperature !== undefined) body.temperature = s.temperature;
  if (s?.topP !== undefined) body.top_p = s.topP;
  if (s?.seed !== undefined) body.seed = Number(s.seed);
  if (s?.stop?.length) body.stop = s.stop;
  if (s?.presencePenalty) body.presence_penalty = s.presencePenalty;
  if (s?.frequencyPenalty) body.frequency_penalty = s.frequencyPenalty;
  if (s?.topK) body.top_k = s.topK;
  if (s?.minP) body.min_p = s.minP;
  if (s?.repetitionPenalty) body.repetition_penalty = s.repetitionPenalty;
  // A resumed answer: the last (assistant) message is continued, not answered (vLLM's and
  // SGLang's extension, which a ChatTensor miner serves too).
  if (request.continueFinalMessage) {
    body.continue_final_message = true;
    body.add_generation_prompt = false;
  }
  return body;
}

/** Splits an SSE body into its `data:` payloads. */
async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const bytes of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true }).replace(/\r\n/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data) yield data;
    }
  }
}

/**
 * Queries a miner that serves the OpenAI chat API behind btauth/1 (a
 * ChatTensor miner's public port, or any OpenAI-compatible server behind a
 * `bittensor.http_auth.verify` check): a streamed `POST /v1/chat/completions`
 * signed with this validator's hotkey for the miner's hotkey, answered as the
 * gRPC stream's chunks. Token ids come from each chunk's `token_ids` when the
 * server sends them (ChatTensor, vLLM); otherwise each non-empty delta counts
 * as one token, and usage comes from the `include_usage` chunk when present.
 */
export function generateOverBtAuth(
  hotkey: Keypair,
  miner: Neuron,
  request: minerV1.GenerateRequest,
  options: { timeoutMs: number; correlationId?: string; fetch?: typeof fetch },
): { responses: AsyncIterable<minerV1.GenerateResponse>; cancel(): void } {
  const abort = new AbortController();
  const axon = miner.axon!;
  const host = axon.ip.includes(':') ? `[${axon.ip}]` : axon.ip;
  const body = Buffer.from(JSON.stringify(openAIChatBody(request)));
  const doFetch = options.fetch ?? fetch;
  const responses = async function* (): AsyncGenerator<minerV1.GenerateResponse> {
    const timer = setTimeout(
      () =>
        abort.abort(
          new AppError(ErrorCode.Timeout, `miner ${miner.uid} did not answer within ${options.timeoutMs} ms`),
        ),
      options.timeoutMs,
    );
    timer.unref();
    try {
      // Signed right before sending: the miner allows 10 s of age.
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        ...signBtAuth(hotkey, { method: 'POST', path: BTAUTH_CHAT_PATH, body, receiver: miner.hotkey }),
      };
      if (options.correlationId) headers['x-request-id'] = options.correlationId;
      let response: Response;
      try {
        response = await doFetch(`http://${host}:${axon.port}${BTAUTH_CHAT_PATH}`, {
          method: 'POST',
          headers,
          body,
          signal: abort.signal,
        });
      } catch (error) {
        throw (
          abortReason(abort.signal) ??
          new AppError(
            ErrorCode.Unavailable,
            `miner ${miner.uid} is unreachable: ${(error as Error).message}`,
          )
        );
      }
      if (!response.ok || !response.body) {
        const text = await response.text().catch(() => '');
        let message = text.slice(0, 300);
        try {
          message = (JSON.parse(text) as ChunkJson).error?.message ?? message;
        } catch {
          // not JSON: keep the text
        }
        throw errorOfStatus(response.status, message);
      }
      let pieces = 0;
      let finishReason = '';
      let usage: minerV1.Usage | undefined;
      let model = '';
      try {
        for await (const data of sseData(response.body)) {
          if (data === '[DONE]') break;
          let chunk: ChunkJson;
          try {
            chunk = JSON.parse(data) as ChunkJson;
          } catch {
            throw new AppError(ErrorCode.Internal, `miner ${miner.uid} sent an SSE event that is not JSON`);
          }
          if (chunk.error)
            throw new AppError(
              ErrorCode.Internal,
              `miner ${miner.uid} failed mid-stream: ${chunk.error.message ?? 'unknown error'}`,
            );
          model = chunk.model ?? model;
          if (chunk.usage)
            usage = {
              promptTokens: chunk.usage.prompt_tokens ?? 0,
              completionTokens: chunk.usage.completion_tokens ?? 0,
            };
          const choice = chunk.choices?.[0];
          if (!choice) continue;
          if (choice.finish_reason) finishReason = choice.finish_reason;
          const text = choice.delta?.content ?? '';
          const tokenIds = Array.isArray(choice.token_ids) ? choice.token_ids : [];
          if (!text && tokenIds.length === 0) continue;
          const tokenCount = tokenIds.length > 0 ? tokenIds.length : 1;
          pieces += tokenCount;
          yield { textDelta: text, tokenCount, tokenIds, finishReason: '', model, usage: undefined };
        }
      } catch (error) {
        throw abortReason(abort.signal) ?? error;
      }
      yield {
        textDelta: '',
        tokenCount: 0,
        tokenIds: [],
        finishReason: finishReason || 'stop',
        model,
        usage: usage ?? { promptTokens: 0, completionTokens: pieces },
      };
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    responses: responses(),
    cancel: () => abort.abort(new AppError(ErrorCode.Cancelled, 'cancelled')),
  };
}

function abortReason(signal: AbortSignal): AppError | undefined {
  if (!signal.aborted) return undefined;
  return signal.reason instanceof AppError ? signal.reason : new AppError(ErrorCode.Cancelled, 'cancelled');
}
