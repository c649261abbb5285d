import type { FastifyRequest } from 'fastify';
import type { RateLimits } from '../config/gateway.config';

/** Who is calling: an API key or the anonymous tier (from one client address). */
export interface Principal {
  kind: 'key' | 'anonymous';
  /** Owner of the caller's conversations: the key id, or `anon:<session id>` (the browser's anonymous session). */
  owner: string;
  /** Whose rate-limit buckets the request draws from. */
  rateSubject: string;
  limits: RateLimits;
  keyId?: string;
}

/** The conversation owner of an anonymous session (never a key id: those start with `key_`). */
export function anonymousOwner(sessionId: string): string {
  return `anon:${sessionId}`;
}

const PRINCIPAL = Symbol('chattensor.principal');

type WithPrincipal = FastifyRequest & { [PRINCIPAL]?: Principal };

export function setPrincipal(request: FastifyRequest, principal: Principal): void {
  (request as WithPrincipal)[PRINCIPAL] = principal;
}

/** The principal the auth guard attached; routes without the guard have none. */
export function principalOf(request: FastifyRequest): Principal | undefined {
  return (request as WithPrincipal)[PRINCIPAL];
}
