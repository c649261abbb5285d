import { AppError, ErrorCode } from '@chattensor/common';
import type { ChatTurn, SamplingOptions } from '@chattensor/inference';
import type { minerV1 } from '@chattensor/protocol';
import { requestSampling } from '@chattensor/scoring';

const ROLES = new Set(['system', 'user', 'assistant']);
const MAX_PROMPT_CHARS = 1_000_000;

/**
 * Checks a decoded GenerateRequest and turns it into engine inputs (the same
 * derivation the validator's verifier uses, `requestSampling`), or throws
 * InvalidRequest naming the field.
 */
export function toEngineInput(
  request: minerV1.GenerateRequest,
  maxTokensLimit: number,
): { messages: ChatTurn[]; sampling: SamplingOptions } {
  if (request.messages.length === 0)
    throw new AppError(ErrorCode.InvalidRequest, 'messages must not be empty', { param: 'messages' });
  let chars = 0;
  request.messages.forEach((m, i) => {
    if (!ROLES.has(m.role)) {
      throw new AppError(ErrorCode.InvalidRequest, `messages[${i}].role must be system, user or assistant`, {
        param: `messages[${i}].role`,
      });
    }
    chars += m.content.length;
  });
  if (chars > MAX_PROMPT_CHARS)
    throw new AppError(ErrorCode.PayloadTooLarge, 'prompt is too large', { param: 'messages' });
  if (request.continueFinalMessage && request.messages.at(-1)?.role !== 'assistant') {
    throw new AppError(ErrorCode.InvalidRequest, 'continue_final_message needs an assistant message last', {
      param: 'continue_final_message',
    });
  }
  const s = request.sampling;
  const maxTokens = s?.maxTokens || 256;
  if (maxTokens > maxTokensLimit) {
    throw new AppError(ErrorCode.InvalidRequest, `max_tokens must be at most ${maxTokensLimit}`, {
      param: 'sampling.max_tokens',
    });
  }
  const temperature = s?.temperature;
  if (temperature !== undefined && !(temperature >= 0 && temperature <= 2)) {
    throw new AppError(ErrorCode.InvalidRequest, 'temperature must be between 0 and 2', {
      param: 'sampling.temperature',
    });
  }
  const topP = s?.topP;
  if (topP !== undefined && !(topP > 0 && topP <= 1)) {
    throw new AppError(ErrorCode.InvalidRequest, 'top_p must be in (0, 1]', { param: 'sampling.top_p' });
  }
  return requestSampling(request);
}
