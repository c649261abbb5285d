import 'reflect-metadata';
import { RequestMethod, type Type } from '@nestjs/common';
import Ajv2020 from 'ajv/dist/2020';
import { AdminController } from '../auth/admin.controller';
import { ChatController } from '../chat/chat.controller';
import { chatRequestSchemas, parseChatRequest } from '../chat/chat-request.schema';
import { ConversationsController } from '../conversations/conversations.controller';
import { ModelsController } from '../models/models.controller';
import { StatusController } from '../status/status.controller';
import { buildOpenApiDocument } from './openapi.document';

const MAX_TOKENS = 4096;
const schemas = chatRequestSchemas({ maxTokens: MAX_TOKENS });
const document = buildOpenApiDocument(schemas);

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
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item as object).map((method) => `${method.toUpperCase()} ${path}`),
  );
}

/** Path parameters are named for readers in the document; compare the route shapes only. */
const shape = (route: string) => route.replace(/\{\w+\}/g, '{}');

/** What the document says of a chat request body, checked by a JSON Schema 2020-12 validator. */
const ajv = new Ajv2020({ strict: false });
ajv.addSchema({ $id: 'doc', components: document.components });
const validateChatRequest = ajv.compile({
  anyOf: (
    document.paths['/v1/chat/completions'].post.requestBody.content['application/json'].schema as {
      anyOf: { $ref: string }[];
    }
  ).anyOf.map((ref) => ({
    $ref: `doc${ref.$ref}`,
  })),
});
function documentAccepts(body: unknown): boolean {
  return validateChatRequest(body);
}

function serverAccepts(body: unknown): boolean {
  try {
    parseChatRequest(body, schemas);
    return true;
  } catch {
    return false;
  }
}

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
    expect(document.openapi).toBe('3.1.0');
    const refs = [...JSON.stringify(document).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map(
      (m) => m[1],
    );
    expect(refs.length).toBeGreaterThan(10);
    for (const name of refs) expect(Object.keys(document.components.schemas)).toContain(name);
  });

  it('documents the error statuses of chat completions, with Retry-After on 429 and 503 and the rate-limit headers on 429', () => {
    const responses = document.paths['/v1/chat/completions'].post.responses;
    expect(Object.keys(responses).sort()).toEqual([
      '200',
      '400',
      '401',
      '404',
      '413',
      '429',
      '500',
      '503',
      '504',
    ]);
    expect(Object.keys(responses['429'].headers ?? {})).toEqual(
      expect.arrayContaining([
        'Retry-After',
        'x-ratelimit-limit-requests',
        'x-ratelimit-remaining-tokens',
        'x-ratelimit-reset-requests',
        'x-ratelimit-reset-tokens',
      ]),
    );
    expect(responses['503'].headers).toHaveProperty('Retry-After');
  });

  it('states the configured MAX_TOKENS_LIMIT', () => {
    const request = document.components.schemas.ChatCompletionRequest as {
      properties: Record<string, { anyOf: { maximum?: number }[] }>;
    };
    expect(request.properties.max_tokens.anyOf[0].maximum).toBe(MAX_TOKENS);
  });

  const question = { model: 'chattensor', messages: [{ role: 'user', content: 'hi' }] };
  it.each([
    ['a plain question', question, true],
    [
      'every parameter',
      {
        ...question,
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: 5,
        max_completion_tokens: MAX_TOKENS,
        temperature: 0,
        top_p: 0,
        n: 8,
        stop: ['a', ''],
        seed: 0,
        presence_penalty: -2,
        frequency_penalty: 2,
        user: 'u',
        conversation_id: 'c',
        tools: [],
        logprobs: false,
        regenerate: false,
      },
      true,
    ],
    ['top_p 1e-50', { ...question, top_p: 1e-50 }, true],
    [
      'an empty and a null content',
      {
        ...question,
        messages: [
          { role: 'user', content: '' },
          { role: 'assistant', content: null },
        ],
      },
      true,
    ],
    [
      'text parts',
      { ...question, messages: [{ role: 'developer', content: [{ type: 'text', text: 'x' }] }] },
      true,
    ],
    ['a regeneration', { model: 'm', messages: [], conversation_id: 'c', regenerate: true }, true],
    ['empty messages', { ...question, messages: [] }, false],
    ['no messages', { model: 'm' }, false],
    ['max_tokens above the limit', { ...question, max_tokens: MAX_TOKENS + 1 }, false],
    ['max_tokens 0', { ...question, max_completion_tokens: 0 }, false],
    ['a fractional max_tokens', { ...question, max_tokens: 1.5 }, false],
    ['a seed beyond 2^53', { ...question, seed: 2 ** 60 }, false],
    ['a negative seed', { ...question, seed: -1 }, false],
    ['top_p above 1', { ...question, top_p: 1.0000001 }, false],
    ['temperature above 2', { ...question, temperature: 2.5 }, false],
    ['five stop sequences', { ...question, stop: ['a', 'b', 'c', 'd', 'e'] }, false],
    ['tools', { ...question, tools: [{ type: 'function' }] }, false],
    ['logprobs', { ...question, logprobs: true }, false],
    ['regenerate without a conversation', { model: 'm', messages: [], regenerate: true }, false],
    ['regenerate with messages', { ...question, conversation_id: 'c', regenerate: true }, false],
    ['an unknown role', { ...question, messages: [{ role: 'tool', content: 'x' }] }, false],
    ['empty text parts', { ...question, messages: [{ role: 'user', content: [] }] }, false],
    ['an empty model', { ...question, model: '' }, false],
    ['n = 9', { ...question, n: 9 }, false],
    ['a user over 256 characters', { ...question, user: 'u'.repeat(257) }, false],
  ])('agrees with the server on %s', (_name, body, accepted) => {
    expect(serverAccepts(body)).toBe(accepted);
    expect(documentAccepts(body)).toBe(accepted);
  });
});
