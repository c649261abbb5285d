import { ErrorCode } from '@chattensor/common';
import { httpErrorOf } from '../errors/openai-error';
import { frameError } from './chat-relay.service';

describe('a validator’s error frame at the HTTP edge', () => {
  it('makes a miner’s refusal of an invalid request a 400, never a retryable 503', () => {
    const http = httpErrorOf(
      frameError({ type: 'error', code: 'invalid_request', message: 'top_p must be in (0, 1]' }),
    );
    expect(http.status).toBe(400);
    expect(http.retryAfterSeconds).toBeUndefined();
    expect(http.body.error).toMatchObject({
      type: 'invalid_request_error',
      message: 'top_p must be in (0, 1]',
    });
  });

  it('reports an engine’s context refusal as context_length_exceeded on messages', () => {
    const error = frameError({
      type: 'error',
      code: 'invalid_request',
      message: 'prompt has 5000 tokens; the context window is 4096',
    });
    expect(httpErrorOf(error).body.error).toMatchObject({
      code: 'context_length_exceeded',
      param: 'messages',
    });
  });

  it('keeps the status and Retry-After of the others', () => {
    const unavailable = httpErrorOf(
      frameError({ type: 'error', code: 'unavailable', message: 'no miner answered', retryAfterSeconds: 3 }),
    );
    expect(unavailable).toMatchObject({ status: 503, retryAfterSeconds: 3 });
    expect(frameError({ type: 'error', code: 'overloaded', message: 'busy' }).code).toBe(
      ErrorCode.Overloaded,
    );
  });
});
