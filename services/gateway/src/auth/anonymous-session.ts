import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { RedisService, redisKey } from '@chattensor/common';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';

/** The anonymous identity of a browser: `<id>.<HMAC-SHA256 of the id>`, HttpOnly. */
export const SESSION_COOKIE = 'ct_session';
const SECRET_KEY = redisKey('gateway', 'session-secret');

export interface AnonymousSession {
  id: string;
  /** Set-Cookie value to send when the request brought no valid session. */
  setCookie?: string;
}

/**
 * Private anonymous sessions: each browser (any cookie-keeping client) gets
 * its own anonymous identity in a signed, HttpOnly cookie, and its
 * conversations belong to that identity alone. The signing secret is
 * SESSION_SECRET, or else one generated once and kept in Redis, so every
 * gateway replica (and a restarted one) accepts the same cookies. A client
 * that keeps no cookies gets a new identity on every request: it can chat,
 * but its conversations are out of its reach, as in a private window.
 */
@Injectable()
export class AnonymousSessions implements OnModuleInit {
  private secret?: Buffer;

  constructor(
    private readonly redis: RedisService,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.config.access.sessionSecret) {
      this.secret = Buffer.from(this.config.access.sessionSecret, 'utf8');
      return;
    }
    // The first replica to start writes it; every other one reads the same.
    await this.redis.client.set(SECRET_KEY, randomBytes(32).toString('base64url'), 'NX');
    const shared = await this.redis.client.get(SECRET_KEY);
    if (!shared) throw new Error('the anonymous session secret could not be stored in Redis');
    this.secret = Buffer.from(shared, 'utf8');
  }

  /** The request's session when its cookie is valid, else a new one (with the cookie to set). */
  resolve(cookieHeader: string | undefined, secure: boolean): AnonymousSession {
    const presented = cookieValue(cookieHeader, SESSION_COOKIE);
    if (presented) {
      const dot = presented.indexOf('.');
      const id = presented.slice(0, dot);
      if (dot > 0 && /^[A-Za-z0-9_-]{22}$/.test(id) && this.verify(id, presented.slice(dot + 1)))
        return { id };
    }
    const id = randomBytes(16).toString('base64url');
    const attributes = [
      `${SESSION_COOKIE}=${id}.${this.sign(id)}`,
      'Path=/',
      `Max-Age=${this.config.conversations.ttlSeconds}`,
      'HttpOnly',
      'SameSite=Lax',
      ...(secure ? ['Secure'] : []),
    ];
    return { id, setCookie: attributes.join('; ') };
  }

  private sign(id: string): string {
    if (!this.secret) throw new Error('anonymous sessions used before the module initialised');
    return createHmac('sha256', this.secret).update(`${SESSION_COOKIE}:${id}`).digest('base64url');
  }

  private verify(id: string, signature: string): boolean {
    const expected = Buffer.from(this.sign(id));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/** One cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
