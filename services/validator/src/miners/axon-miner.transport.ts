import { Dendrite, StreamPrompting, type SynapseResult } from '@chattensor/bittensor';
import { AppError, ErrorCode } from '@chattensor/common';
import type { minerV1, Neuron } from '@chattensor/protocol';

/** The SDK's status codes, as the validator's domain errors. */
function errorOf(result: SynapseResult<unknown>): AppError {
  const message = `axon answered ${result.statusCode}: ${result.statusMessage}`;
  switch (result.statusCode) {
    case 401:
      return new AppError(ErrorCode.Unauthenticated, message);
    case 403:
      return new AppError(ErrorCode.PermissionDenied, message);
    case 408:
      return new AppError(ErrorCode.Timeout, message);
    case 429:
      return new AppError(ErrorCode.Overloaded, message);
    case 503:
      return new AppError(ErrorCode.Unavailable, message);
    default:
      return new AppError(result.statusCode >= 400 && result.statusCode < 500 ? ErrorCode.InvalidRequest : ErrorCode.Internal, message);
  }
}

/**
 * Queries a miner that serves the Bittensor SDK's HTTP axon (a Python miner,
 * or a ChatTensor miner registered on chain) with the StreamPrompting
 * synapse, and presents its answer as the gRPC stream's chunks. The synapse
 * carries text only, so each streamed piece counts as one token and the
 * prompt's token count is unknown (0).
 */
export function generateOverAxon(
  dendrite: Dendrite,
  miner: Neuron,
  request: minerV1.GenerateRequest,
  timeoutMs: number,
): { responses: AsyncIterable<minerV1.GenerateResponse>; cancel(): void } {
  const abort = new AbortController();
  const axon = miner.axon!;
  const sampling = request.sampling;
  const call = dendrite.stream(
    { ip: axon.ip, port: axon.port, hotkey: miner.hotkey },
    StreamPrompting,
    {
      roles: request.messages.map((m) => m.role),
      messages: request.messages.map((m) => m.content),
      completion: '',
      max_tokens: sampling?.maxTokens || undefined,
      temperature: sampling?.temperature,
      top_p: sampling?.topP,
      seed: sampling?.seed === undefined ? undefined : Number(sampling.seed),
    },
    { timeoutSeconds: Math.max(1, timeoutMs / 1000), signal: abort.signal },
  );
  const responses = async function* (): AsyncGenerator<minerV1.GenerateResponse> {
    let pieces = 0;
    for await (const text of call) {
      if (!text) continue;
      pieces++;
      yield { textDelta: text, tokenCount: 1, tokenIds: [], finishReason: '', model: '', usage: undefined };
    }
    const result = await call.result;
    if (abort.signal.aborted) throw new AppError(ErrorCode.Cancelled, 'cancelled');
    if (result.statusCode !== 200) throw errorOf(result);
    yield {
      textDelta: '',
      tokenCount: 0,
      tokenIds: [],
      finishReason: sampling?.maxTokens && pieces >= sampling.maxTokens ? 'length' : 'stop',
      model: '',
      usage: { promptTokens: 0, completionTokens: pieces },
    };
  };
  return { responses: responses(), cancel: () => abort.abort() };
}
