import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '@chattensor/common';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';
import { clientIp } from '../http/client-ip.util';
import { ApiKeyStore, looksLikeApiKey } from './api-key.store';
import { AUTHENTICATED } from './authenticated.decorator';
import { AnonymousSessions } from './anonymous-session';
import { anonymousOwner, setPrincipal, type Principal } from './principal';

/**
 * Resolves the caller of every `@Authenticated()` route. A ChatTensor key
 * (`ct-...`) must be valid, whatever the anonymous setting: a revoked or
 * mistyped key is a 401, never a silent fall back to the anonymous tier.
 * Without a ChatTensor key the caller is anonymous, limited per client
 * address, when ANONYMOUS_ACCESS allows it; so the OpenAI client's
 * obligatory placeholder key keeps working with the demo.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeyStore,
    private readonly sessions: AnonymousSessions,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const wanted = this.reflector.getAllAndOverride<boolean | undefined>(AUTHENTICATED, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!wanted || context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    setPrincipal(request, await this.resolve(request, context.switchToHttp().getResponse<FastifyReply>()));
    return true;
  }

  private async resolve(request: FastifyRequest, reply: FastifyReply): Promise<Principal> {
    const presented = bearerToken(request);
    if (presented !== undefined && looksLikeApiKey(presented)) {
      const record = await this.keys.verify(presented);
      if (!record)
        throw new AppError(ErrorCode.Unauthenticated, 'Incorrect API key provided, or the key was revoked.');
      return {
        kind: 'key',
        owner: record.id,
        keyId: record.id,
        rateSubject: `key:${record.id}`,
        limits: { requestsPerMinute: record.requestsPerMinute, tokensPerMinute: record.tokensPerMinute },
      };
    }
    if (!this.config.access.anonymous) {
      throw new AppError(
        ErrorCode.Unauthenticated,
        presented === undefined
          ? "You didn't provide an API key. Pass it in the Authorization header: 'Authorization: Bearer ct-...'."
          : 'Incorrect API key provided: ChatTensor keys start with ct-.',
      );
    }
    // Each browser its own anonymous identity: conversations are never shared between them.
    const session = this.sessions.resolve(request.headers.cookie, request.protocol === 'https');
    if (session.setCookie) void reply.header('set-cookie', session.setCookie);
    return {
      kind: 'anonymous',
      owner: anonymousOwner(session.id),
      rateSubject: `ip:${clientIp(request.raw, this.config.access.trustProxyHops)}`,
      limits: this.config.access.anonymousLimits,
    };
  }
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}
