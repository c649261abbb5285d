import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { CORRELATION_HEADER } from '@chattensor/common';
import type { ChatContext } from '../chat/chat.service';

/** The caller and the correlation id of a request (the id is generated when the client sent none). */
export function requestContext(request: FastifyRequest): ChatContext {
  const header = request.headers[CORRELATION_HEADER] ?? request.headers['x-request-id'];
  const correlationId = typeof header === 'string' && /^[\w.:-]{1,128}$/.test(header) ? header : randomUUID();
  return { owner: 'anonymous', correlationId };
}
