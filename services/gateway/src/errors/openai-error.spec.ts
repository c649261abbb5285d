import { HttpException, NotFoundException, PayloadTooLargeException } from '@nestjs/common';
import { AppError, ERROR_CODES, ErrorCode } from '@chattensor/common';
import { toAppError } from './openai-exception.filter';
import { httpErrorOf } from './openai-error';

describe('mapping domain errors to OpenAI error objects', () => {
  it('gives every error code a status and an object with exactly message, type, param and code', () => {
    for (const code of ERROR_CODES) {
      const http = httpErrorOf(new AppError(code, 'something'));
      expect(http.status).toBeGreaterThanOrEqual(400);
      expect(Object.keys(http.body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    }
  });

  it.each([
    [ErrorCode.InvalidRequest, 400, 'invalid_request_error'],
    [ErrorCode.Unauthenticated, 401, 'authentication_error'],
    [ErrorCode.NotFound, 404, 'invalid_request_error'],
    [ErrorCode.PayloadTooLarge, 413, 'invalid_request_error'],
    [ErrorCode.RateLimited, 429, 'rate_limit_error'],
    [ErrorCode.Overloaded, 429, 'rate_limit_error'],
    [ErrorCode.Unavailable, 503, 'service_unavailable'],
    [ErrorCode.Internal, 500, 'server_error'],
  ])('maps %s to %i %s', (code, status, type) => {
    const http = httpErrorOf(new AppError(code, 'x'));
    expect(http.status).toBe(status);
    expect(http.body.error.type).toBe(type);
  });

  it('puts Retry-After on 429 and 503', () => {
    expect(
      httpErrorOf(new AppError(ErrorCode.RateLimited, 'x', { retryAfterSeconds: 7 })).retryAfterSeconds,
    ).toBe(7);
    expect(httpErrorOf(new AppError(ErrorCode.Unavailable, 'x')).retryAfterSeconds).toBe(1);
  });

  it('gives a 500 an error id that is in the message and never leaks the cause', () => {
    const http = httpErrorOf(new AppError(ErrorCode.Internal, 'database password is hunter2'));
    expect(http.errorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(http.body.error.message).toBe(`internal error (error id ${http.errorId})`);
    expect(JSON.stringify(http.body)).not.toContain('hunter2');
  });

  it('reports the parameter and a finer reason when the error has them', () => {
    const http = httpErrorOf(
      new AppError(ErrorCode.NotFound, 'no model', { param: 'model', reason: 'model_not_found' }),
    );
    expect(http.body.error).toEqual({
      message: 'no model',
      type: 'invalid_request_error',
      param: 'model',
      code: 'model_not_found',
    });
  });

  it('turns framework and parser errors into domain errors', () => {
    expect(toAppError(new NotFoundException()).code).toBe(ErrorCode.NotFound);
    expect(toAppError(new PayloadTooLargeException()).code).toBe(ErrorCode.PayloadTooLarge);
    expect(toAppError(new HttpException('slow down', 429)).code).toBe(ErrorCode.RateLimited);
    expect(toAppError(Object.assign(new Error('body too big'), { statusCode: 413 })).code).toBe(
      ErrorCode.PayloadTooLarge,
    );
    expect(
      toAppError(
        Object.assign(new Error('Unexpected end of JSON'), {
          statusCode: 400,
          code: 'FST_ERR_CTP_INVALID_JSON_BODY',
        }),
      ).message,
    ).toMatch(/^We could not parse the JSON body of your request\./);
    expect(toAppError(new TypeError('boom')).code).toBe(ErrorCode.Internal);
  });
});
