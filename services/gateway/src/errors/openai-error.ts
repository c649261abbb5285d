import { randomUUID } from 'node:crypto';
import { AppError, ErrorCode } from '@chattensor/common';

/** The OpenAI API's error object, exactly: `{"error":{"message","type","param","code"}}`. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface HttpError {
  status: number;
  body: OpenAIErrorBody;
  retryAfterSeconds?: number;
  /** Set on 500s: also logged, so a user's report can be matched to the log line. */
  errorId?: string;
}

/** The one place where domain error codes become HTTP statuses and OpenAI error types. */
export function httpErrorOf(error: AppError): HttpError {
  const body = (type: string, code: string | null = error.code): OpenAIErrorBody => ({
    error: { message: error.message, type, param: error.param ?? null, code: error.reason ?? code },
  });
  switch (error.code) {
    case ErrorCode.InvalidRequest:
      return { status: 400, body: body('invalid_request_error') };
    case ErrorCode.Unauthenticated:
      return { status: 401, body: body('authentication_error', 'invalid_api_key') };
    case ErrorCode.PermissionDenied:
      return { status: 403, body: body('permission_error') };
    case ErrorCode.NotFound:
      return { status: 404, body: body('invalid_request_error', 'not_found') };
    case ErrorCode.PayloadTooLarge:
      return { status: 413, body: body('invalid_request_error', 'payload_too_large') };
    case ErrorCode.RateLimited:
      return {
        status: 429,
        body: body('rate_limit_error', 'rate_limit_exceeded'),
        retryAfterSeconds: error.retryAfterSeconds ?? 1,
      };
    case ErrorCode.Overloaded:
      return {
        status: 429,
        body: body('rate_limit_error', 'overloaded'),
        retryAfterSeconds: error.retryAfterSeconds ?? 1,
      };
    case ErrorCode.Unavailable:
      return {
        status: 503,
        body: body('service_unavailable', 'unavailable'),
        retryAfterSeconds: error.retryAfterSeconds ?? 1,
      };
    case ErrorCode.Timeout:
      return { status: 504, body: body('timeout', 'timeout') };
    case ErrorCode.Cancelled:
      return { status: 499, body: body('cancelled', 'cancelled') };
    case ErrorCode.Internal: {
      const errorId = randomUUID();
      return {
        status: 500,
        errorId,
        body: {
          error: {
            message: `internal error (error id ${errorId})`,
            type: 'server_error',
            param: null,
            code: 'internal_error',
          },
        },
      };
    }
  }
}
