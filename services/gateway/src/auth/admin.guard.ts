import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '@chattensor/common';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';

/** The admin API answers only to `Authorization: Bearer <ADMIN_TOKEN>`, and does not exist without one configured. */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly expected?: Buffer;

  constructor(@Inject(GATEWAY_CONFIG) config: GatewayConfig) {
    if (config.access.adminToken) this.expected = digest(config.access.adminToken);
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.expected)
      throw new AppError(
        ErrorCode.NotFound,
        'Unknown route: the admin API is disabled (ADMIN_TOKEN is not set).',
      );
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization;
    const token = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
    // Comparing digests of equal length keeps the check constant-time whatever was sent.
    if (!token || !timingSafeEqual(digest(token), this.expected)) {
      throw new AppError(
        ErrorCode.Unauthenticated,
        'The admin API needs Authorization: Bearer <ADMIN_TOKEN>.',
      );
    }
    return true;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
