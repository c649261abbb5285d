import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { AppError, ErrorCode } from '@chattensor/common';
import { GATEWAY_CONFIG } from '../config/config.token';
import { loadGatewayConfig } from '../config/gateway.config';
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
  async function guardWith(env: Record<string, string>): Promise<ApiKeyGuard> {
    const module = await Test.createTestingModule({
      providers: [
        ApiKeyGuard,
        Reflector,
        { provide: GATEWAY_CONFIG, useValue: loadGatewayConfig(env) },
        {
          provide: ApiKeyStore,
          useValue: { verify: (key: string) => Promise.resolve(key === VALID_KEY ? record : undefined) },
        },
      ],
    }).compile();
    return module.get<ApiKeyGuard>(ApiKeyGuard);
  }

  function call(routes: new () => { handler(): void }, headers: Record<string, string> = {}) {
    const request = { headers, raw: { socket: { remoteAddress: '192.0.2.4' }, headers } };
    const context = {
      getType: () => 'http',
      getHandler: () => (routes.prototype as { handler(): void }).handler,
      getClass: () => routes,
      switchToHttp: () => ({ getRequest: () => request }),
    } as unknown as ExecutionContext;
    return { context, request: request as never };
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
      owner: 'anonymous',
      rateSubject: 'ip:192.0.2.4',
      limits: { requestsPerMinute: 3 },
    });
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
