import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AppError, ErrorCode, rootLogger } from '@chattensor/common';
import { httpErrorOf } from './openai-error';

/** Turns any error that reaches the HTTP layer into an OpenAI error object. */
@Catch()
export class OpenAIExceptionFilter implements ExceptionFilter {
  private readonly log = rootLogger().child({ component: 'http-errors' });

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const appError = toAppError(exception);
    const http = httpErrorOf(appError);
    if (http.errorId) this.log.error({ errorId: http.errorId, err: exception }, 'request failed');
    if (reply.sent || reply.raw.headersSent) {
      // A stream already started: the error goes in the stream, as OpenAI does.
      if (!reply.raw.writableEnded) reply.raw.end(`data: ${JSON.stringify(http.body)}\n\n`);
      return;
    }
    if (http.retryAfterSeconds !== undefined)
      void reply.header('Retry-After', String(Math.ceil(http.retryAfterSeconds)));
    void reply.status(http.status).header('Content-Type', 'application/json').send(http.body);
  }
}

export function toAppError(exception: unknown): AppError {
  if (exception instanceof AppError) return exception;
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    if (status === 404)
      return new AppError(ErrorCode.NotFound, 'Unknown route: see /openapi.json for the API');
    if (status === 413) return new AppError(ErrorCode.PayloadTooLarge, 'Request body is too large');
    if (status === 400)
      return new AppError(
        ErrorCode.InvalidRequest,
        /JSON/i.test(exception.message) ? JSON_PARSE_MESSAGE : exception.message,
      );
    if (status === 429) return new AppError(ErrorCode.RateLimited, exception.message);
    if (status === 401) return new AppError(ErrorCode.Unauthenticated, exception.message);
    if (status < 500) return new AppError(ErrorCode.InvalidRequest, exception.message);
  }
  if (isDependencyOutage(exception))
    return new AppError(
      ErrorCode.Unavailable,
      'A storage dependency of the gateway is unavailable; try again shortly.',
      {
        retryAfterSeconds: 2,
        cause: exception,
      },
    );
  // Fastify's own errors (body parsing) carry a statusCode.
  const fastifyError = exception as { statusCode?: number; code?: string; message?: string };
  if (fastifyError?.statusCode === 413)
    return new AppError(ErrorCode.PayloadTooLarge, 'Request body is too large');
  if (fastifyError?.statusCode === 415)
    return new AppError(ErrorCode.InvalidRequest, 'Content-Type must be application/json');
  if (fastifyError?.statusCode === 400) {
    const message =
      fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/i.test(fastifyError.message ?? '')
        ? JSON_PARSE_MESSAGE
        : (fastifyError.message ?? 'Bad request');
    return new AppError(ErrorCode.InvalidRequest, message);
  }
  return new AppError(ErrorCode.Internal, 'internal error', { cause: exception });
}

const JSON_PARSE_MESSAGE =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The API expects a JSON payload, but what was sent was not valid JSON.)";

/** Network error codes of a dependency that is down or unreachable. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Redis (ioredis) gave up on a command because the server is unreachable:
 * its retries per request are spent, the connection is closed, or the socket
 * failed. A dependency outage is a 503 with Retry-After, never a 500.
 */
export function isDependencyOutage(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  if (/^(Connection is closed\.|Stream isn't writeable|Command timed out)/.test(error.message)) return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && NETWORK_CODES.has(code);
}
