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
    if (status === 400) return new AppError(ErrorCode.InvalidRequest, exception.message);
    if (status === 429) return new AppError(ErrorCode.RateLimited, exception.message);
    if (status === 401) return new AppError(ErrorCode.Unauthenticated, exception.message);
    if (status < 500) return new AppError(ErrorCode.InvalidRequest, exception.message);
  }
  // Fastify's own errors (body parsing) carry a statusCode.
  const fastifyError = exception as { statusCode?: number; code?: string; message?: string };
  if (fastifyError?.statusCode === 413)
    return new AppError(ErrorCode.PayloadTooLarge, 'Request body is too large');
  if (fastifyError?.statusCode === 415)
    return new AppError(ErrorCode.InvalidRequest, 'Content-Type must be application/json');
  if (fastifyError?.statusCode === 400) {
    const message =
      fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/i.test(fastifyError.message ?? '')
        ? 'We could not parse the JSON body of your request.'
        : (fastifyError.message ?? 'Bad request');
    return new AppError(ErrorCode.InvalidRequest, message);
  }
  return new AppError(ErrorCode.Internal, 'internal error', { cause: exception });
}
