import { Injectable } from '@nestjs/common';
import {
  AxonError,
  streamPromptingToChat,
  type BlacklistVerdict,
  type ForwardContext,
  type StreamPromptingFields,
  type StreamingHandler,
} from '@chattensor/bittensor';
import { AppError, ErrorCode } from '@chattensor/common';
import { GenerationService } from '../generation/generation.service';
import { CallerPolicy } from '../grpc/caller-policy.service';

/**
 * Serves StreamPrompting from the miner's model: the caller policy decides
 * who may ask (403 otherwise) and how urgent they are (their stake), the
 * generation streams as text deltas.
 */
@Injectable()
export class StreamPromptingHandler implements StreamingHandler<StreamPromptingFields> {
  constructor(
    private readonly generation: GenerationService,
    private readonly policy: CallerPolicy,
  ) {}

  blacklist = (hotkey: string): BlacklistVerdict => {
    try {
      this.policy.admit(hotkey);
      return { blocked: false, reason: 'admitted' };
    } catch (error) {
      if (AppError.is(error, ErrorCode.PermissionDenied)) return { blocked: true, reason: error.message };
      throw error;
    }
  };

  priority = (hotkey: string): number => this.policy.admit(hotkey);

  forward = (ctx: ForwardContext<StreamPromptingFields>): AsyncIterable<string> => this.stream(ctx);

  private async *stream(ctx: ForwardContext<StreamPromptingFields>): AsyncGenerator<string> {
    const { messages, sampling } = streamPromptingToChat(ctx.fields);
    try {
      for await (const chunk of this.generation.generate(messages, sampling, ctx.signal, ctx.priority)) {
        if (chunk.text) yield chunk.text;
      }
    } catch (error) {
      throw toAxonError(error);
    }
  }
}

/** Domain errors to the status codes a Python dendrite understands; anything else stays a 500. */
export function toAxonError(error: unknown): unknown {
  if (!(error instanceof AppError)) return error;
  switch (error.code) {
    case ErrorCode.InvalidRequest:
    case ErrorCode.PayloadTooLarge:
      return new AxonError(400, error.message);
    case ErrorCode.Unauthenticated:
      return new AxonError(401, error.message);
    case ErrorCode.PermissionDenied:
      return new AxonError(403, error.message);
    case ErrorCode.NotFound:
      return new AxonError(404, error.message);
    case ErrorCode.Timeout:
      return new AxonError(408, error.message);
    case ErrorCode.RateLimited:
      return new AxonError(429, error.message);
    case ErrorCode.Overloaded:
    case ErrorCode.Unavailable:
      return new AxonError(503, error.message);
    case ErrorCode.Cancelled:
    case ErrorCode.Internal:
      return error;
  }
}
