import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppError, CORRELATION_HEADER, ErrorCode } from '@chattensor/common';
import { principalOf } from '../auth/principal';
import type { ChatContext } from '../chat/chat.service';

/** The caller (resolved by the API key guard) and the correlation id of a request (generated when the client sent none). */
export function requestContext(request: FastifyRequest): ChatContext {
  const principal = principalOf(request);
  // Only reachable if a route lost its @Authenticated(): fail closed rather than serve as nobody.
  if (!principal) throw new AppError(ErrorCode.Internal, 'route is not behind the API key guard');
  return { principal, correlationId: correlationIdOf(request) };
}

export function correlationIdOf(request: FastifyRequest): string {
  const header = request.headers[CORRELATION_HEADER] ?? request.headers['x-request-id'];
  return typeof header === 'string' && /^[\w.:-]{1,128}$/.test(header) ? header : randomUUID();
}
