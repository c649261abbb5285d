import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { AppError, ErrorCode } from '@chattensor/common';
import { GATEWAY_CONFIG } from '../config/config.token';
import { loadGatewayConfig } from '../config/gateway.config';
import { AnonymousSessions, SESSION_COOKIE } from './anonymous-session';
import { ApiKeyGuard } from './api-key.guard';
import { ApiKeyStore, type ApiKeyRecord } from './api-key.store';
import { Authenticated } from './authenticated.decorator';
import { principalOf } from './principal';

const VALID_KEY = `ct-${'k'.repeat(43)}`;
const record: ApiKeyRecord = {
  id: 'key_1',
  name: 'test',
  hint: 'ct-kkkk...kkkk',
  createdAt: 1,
  requestsPerMinute: 7,
  tokensPerMinute: 70,
};

@Authenticated()
class ApiRoutes {
  handler(): void {}
}
class PublicRoutes {
  handler(): void {}
}

describe('the API key guard', () => {
  const SECRET = 's'.repeat(32);
  async function guardWith(env: Record<string, string>): Promise<ApiKeyGuard> {
    const config = loadGatewayConfig({ SESSION_SECRET: SECRET, ...env });
    // With SESSION_SECRET set the sessions never touch Redis.
    const sessions = new AnonymousSessions(undefined as never, config);
    await sessions.onModuleInit();
    const module = await Test.createTestingModule({
      providers: [
        ApiKeyGuard,
        Reflector,
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: AnonymousSessions, useValue: sessions },
        {
          provide: ApiKeyStore,
          useValue: { verify: (key: string) => Promise.resolve(key === VALID_KEY ? record : undefined) },
        },
      ],
    }).compile();
    return module.get<ApiKeyGuard>(ApiKeyGuard);
  }

  function call(routes: new () => { handler(): void }, headers: Record<string, string> = {}) {
    const request = { headers, protocol: 'http', raw: { socket: { remoteAddress: '192.0.2.4' }, headers } };
    const sent: Record<string, string> = {};
    const reply = {
      header(name: string, value: string) {
        sent[name] = value;
        return reply;
      },
    };
    const context = {
      getType: () => 'http',
      getHandler: () => (routes.prototype as { handler(): void }).handler,
      getClass: () => routes,
      switchToHttp: () => ({ getRequest: () => request, getResponse: () => reply }),
    } as unknown as ExecutionContext;
    return { context, request: request as never, sent };
  }

  async function refusal(guard: ApiKeyGuard, headers: Record<string, string>): Promise<AppError> {
    const error = await guard.canActivate(call(ApiRoutes, headers).context).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }

  it('attaches the key’s owner and limits for a valid key', async () => {
    const guard = await guardWith({});
    const { context, request } = call(ApiRoutes, { authorization: `Bearer ${VALID_KEY}` });
    await expect(guard.canActivate(context)).resolves.toBe(true);
    expect(principalOf(request)).toEqual({
      kind: 'key',
      owner: 'key_1',
      keyId: 'key_1',
      rateSubject: 'key:key_1',
      limits: { requestsPerMinute: 7, tokensPerMinute: 70 },
    });
  });

  it('refuses an unknown ChatTensor key even when anonymous access is on', async () => {
    const error = await refusal(await guardWith({}), { authorization: `Bearer ct-${'x'.repeat(43)}` });
    expect(error.code).toBe(ErrorCode.Unauthenticated);
  });

  it('serves callers without a ChatTensor key as anonymous, limited per address', async () => {
    const guard = await guardWith({ ANONYMOUS_REQUESTS_PER_MINUTE: '3' });
    const { context, request } = call(ApiRoutes, { authorization: 'Bearer sk-placeholder' });
    await guard.canActivate(context);
    expect(principalOf(request)).toMatchObject({
      kind: 'anonymous',
      owner: expect.stringMatching(/^anon:[\w-]{22}$/) as string,
      rateSubject: 'ip:192.0.2.4',
      limits: { requestsPerMinute: 3 },
    });
  });

  it('gives each anonymous browser its own identity in a signed HttpOnly cookie, and keeps it while the cookie is presented', async () => {
    const guard = await guardWith({});
    const first = call(ApiRoutes);
    await guard.canActivate(first.context);
    const setCookie = first.sent['set-cookie'];
    expect(setCookie).toMatch(
      new RegExp(`^${SESSION_COOKIE}=[\\w-]{22}\\.[\\w-]{43}; Path=/; Max-Age=\\d+; HttpOnly; SameSite=Lax$`),
    );
    const cookie = setCookie.split(';')[0];
    const owner = principalOf(first.request)!.owner;

    const again = call(ApiRoutes, { cookie: `theme=dark; ${cookie}` });
    await guard.canActivate(again.context);
    expect(principalOf(again.request)!.owner).toBe(owner);
    expect(again.sent['set-cookie']).toBeUndefined();

    // Another browser, or a forged cookie (someone else's id with a made-up signature), is someone else.
    const other = call(ApiRoutes);
    await guard.canActivate(other.context);
    expect(principalOf(other.request)!.owner).not.toBe(owner);
    const forged = call(ApiRoutes, { cookie: `${cookie.slice(0, -4)}AAAA` });
    await guard.canActivate(forged.context);
    expect(principalOf(forged.request)!.owner).not.toBe(owner);
    expect(forged.sent['set-cookie']).toBeDefined();

    // The same secret (another replica, a restart) accepts the cookie; another secret does not.
    const replica = call(ApiRoutes, { cookie });
    await (await guardWith({})).canActivate(replica.context);
    expect(principalOf(replica.request)!.owner).toBe(owner);
    const stranger = call(ApiRoutes, { cookie });
    await (await guardWith({ SESSION_SECRET: 't'.repeat(32) })).canActivate(stranger.context);
    expect(principalOf(stranger.request)!.owner).not.toBe(owner);
  });

  it('refuses callers without a key when anonymous access is off, saying what is missing', async () => {
    const guard = await guardWith({ ANONYMOUS_ACCESS: 'false' });
    expect((await refusal(guard, {})).message).toContain("didn't provide an API key");
    expect((await refusal(guard, { authorization: 'Bearer sk-placeholder' })).message).toContain(
      'start with ct-',
    );
  });

  it('leaves routes outside the API alone', async () => {
    const guard = await guardWith({ ANONYMOUS_ACCESS: 'false' });
    const { context, request } = call(PublicRoutes);
    await expect(guard.canActivate(context)).resolves.toBe(true);
    expect(principalOf(request)).toBeUndefined();
  });
});
