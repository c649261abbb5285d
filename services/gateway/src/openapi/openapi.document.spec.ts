import 'reflect-metadata';
import { RequestMethod, type Type } from '@nestjs/common';
import { AdminController } from '../auth/admin.controller';
import { ChatController } from '../chat/chat.controller';
import { ConversationsController } from '../conversations/conversations.controller';
import { ModelsController } from '../models/models.controller';
import { StatusController } from '../status/status.controller';
import { openApiDocument } from './openapi.document';

/** Every API route the controllers declare, as OpenAPI "METHOD /path/{param}" strings (Nest's metadata keys are 'path' and 'method'). */
function declaredRoutes(controllers: Type[]): string[] {
  return controllers.flatMap((controller) => {
    const base = String(Reflect.getMetadata('path', controller));
    return Object.getOwnPropertyNames(controller.prototype).flatMap((name) => {
      const handler = (controller.prototype as Record<string, unknown>)[name];
      if (typeof handler !== 'function' || name === 'constructor') return [];
      const method = Reflect.getMetadata('method', handler) as RequestMethod | undefined;
      const path = Reflect.getMetadata('path', handler) as string | undefined;
      if (method === undefined || path === undefined) return [];
      const full = `/${[base, path].filter((p) => p && p !== '/').join('/')}`.replace(/:(\w+)/g, '{$1}');
      return [`${RequestMethod[method]} ${full}`];
    });
  });
}

function documentedRoutes(): string[] {
  return Object.entries(openApiDocument.paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
  );
}

/** Path parameters are named for readers in the document; compare the route shapes only. */
const shape = (route: string) => route.replace(/\{\w+\}/g, '{}');

describe('the OpenAPI document', () => {
  it('describes exactly the routes the API controllers serve', () => {
    const declared = declaredRoutes([
      ChatController,
      ModelsController,
      ConversationsController,
      StatusController,
      AdminController,
    ])
      .map(shape)
      .sort();
    expect(declared.length).toBeGreaterThan(8);
    expect(documentedRoutes().map(shape).sort()).toEqual(declared);
  });

  it('is OpenAPI 3.1 and every schema reference resolves', () => {
    expect(openApiDocument.openapi).toBe('3.1.0');
    const refs = [
      ...JSON.stringify(openApiDocument).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g),
    ].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(10);
    for (const name of refs) expect(Object.keys(openApiDocument.components.schemas)).toContain(name);
  });

  it('documents the error statuses of chat completions, with Retry-After on 429 and 503', () => {
    const responses = openApiDocument.paths['/v1/chat/completions'].post.responses;
    expect(Object.keys(responses).sort()).toEqual(['200', '400', '401', '404', '413', '429', '500', '503']);
    expect(responses['429'].headers).toHaveProperty('Retry-After');
    expect(responses['503'].headers).toHaveProperty('Retry-After');
  });
});
