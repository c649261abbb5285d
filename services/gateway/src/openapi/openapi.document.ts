import { z } from 'zod';
import type { chatRequestSchemas } from '../chat/chat-request.schema';
import { chatMessageSchema, textPartSchema } from '../chat/chat-request.schema';
import {
  apiKeyCreatedSchema,
  apiKeyDeletedSchema,
  apiKeyListSchema,
  apiKeySchema,
  chatCompletionChunkSchema,
  chatCompletionSchema,
  conversationDeletedSchema,
  conversationListSchema,
  conversationSchema,
  conversationWithMessagesSchema,
  createApiKeySchema,
  createConversationSchema,
  errorSchema,
  minerRefSchema,
  modelListSchema,
  modelSchema,
  statusSchema,
  usageSchema,
} from './api.schemas';

/**
 * The gateway's API as an OpenAPI 3.1 document, served at /openapi.json.
 * Every schema in it is generated (z.toJSONSchema) from the zod schemas the
 * server validates requests with and the end-to-end tests check responses
 * against; only the paths, statuses and headers are written here, and a unit
 * test checks those against the controllers' routes.
 */

type JsonSchema = Record<string, unknown>;

/** Components from zod: request bodies as accepted (input), responses as produced (output). */
function components(schemas: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const generated = z.toJSONSchema(registry, {
    io,
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: 'any',
  }) as { schemas: Record<string, JsonSchema> };
  // Each component is a schema inside the document, not a standalone one.
  return Object.fromEntries(
    Object.entries(generated.schemas).map(([id, schema]) => {
      const { $schema: _schema, $id: _id, ...rest } = schema;
      return [id, rest];
    }),
  );
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const retryAfter = {
  'Retry-After': {
    description: 'Seconds after which a retry may succeed',
    schema: { type: 'integer', minimum: 1 },
  },
};
const rateLimitHeaders = {
  'x-ratelimit-limit-requests': {
    schema: { type: 'integer' },
    description: 'Requests per minute allowed to the caller',
  },
  'x-ratelimit-remaining-requests': {
    schema: { type: 'integer' },
    description: 'Requests left before the limit',
  },
  'x-ratelimit-reset-requests': {
    schema: { type: 'string' },
    description: 'Time until the requests bucket is full again, e.g. 1s, 6m0s',
  },
  'x-ratelimit-limit-tokens': {
    schema: { type: 'integer' },
    description: 'Tokens per minute allowed to the caller',
  },
  'x-ratelimit-remaining-tokens': {
    schema: { type: 'integer' },
    description: 'Tokens left, after this request’s estimate',
  },
  'x-ratelimit-reset-tokens': {
    schema: { type: 'string' },
    description: 'Time until the tokens bucket is full again',
  },
};
const errorResponse = (description: string, headers?: object) => ({
  description,
  content: json(ref('Error')),
  ...(headers ? { headers } : {}),
});
const errors = {
  '400': errorResponse(
    'Invalid request (the error names the parameter), or a prompt longer than the model’s context (context_length_exceeded)',
  ),
  '401': errorResponse('Missing, wrong or revoked API key'),
  '404': errorResponse('Unknown model, conversation or route'),
  '413': errorResponse('Request body larger than MAX_BODY_BYTES'),
  '429': errorResponse('Rate limit of the key (or client address) reached, or every validator is saturated', {
    ...retryAfter,
    ...rateLimitHeaders,
  }),
  '500': errorResponse('Internal error; the message carries an error id that is also in the gateway log'),
  '503': errorResponse(
    'No validator accepted the request in time, no miner is available, or a storage dependency is down',
    retryAfter,
  ),
  '504': errorResponse('The validator went silent mid-answer'),
};
const storageDown = { '503': errors['503'] };
const idParam = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string', minLength: 1 },
});
const secured = [{ apiKey: [] }, {}];

export function buildOpenApiDocument(chat: ReturnType<typeof chatRequestSchemas>) {
  const requestSchemas = components(
    {
      ChatCompletionRequest: chat.ask,
      RegenerateRequest: chat.regenerate,
      ChatMessage: chatMessageSchema,
      TextPart: textPartSchema,
      CreateConversationRequest: createConversationSchema,
      CreateApiKeyRequest: createApiKeySchema,
    },
    'input',
  );
  const responseSchemas = components(
    {
      Error: errorSchema,
      Usage: usageSchema,
      MinerRef: minerRefSchema,
      ChatCompletion: chatCompletionSchema,
      ChatCompletionChunk: chatCompletionChunkSchema,
      Model: modelSchema,
      ModelList: modelListSchema,
      Conversation: conversationSchema,
      ConversationList: conversationListSchema,
      ConversationWithMessages: conversationWithMessagesSchema,
      ConversationDeleted: conversationDeletedSchema,
      ApiKey: apiKeySchema,
      ApiKeyCreated: apiKeyCreatedSchema,
      ApiKeyList: apiKeyListSchema,
      ApiKeyDeleted: apiKeyDeletedSchema,
      Status: statusSchema,
    },
    'output',
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'ChatTensor gateway',
      version: '1.0.0',
      summary: 'OpenAI-compatible chat on the Bittensor network',
      description:
        'Chat completions answered by Bittensor miners through a validator cluster. Compatible with the OpenAI Chat Completions API ' +
        '(use any OpenAI client with this base URL + /v1); ChatTensor extensions are marked as such. ' +
        'Without an API key, requests use the anonymous tier (limited per client address, conversations private to the browser ' +
        'session cookie) unless the operator switched it off.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/' }],
    security: secured,
    tags: [
      { name: 'chat', description: 'Chat completions (OpenAI compatible)' },
      { name: 'models', description: 'Models served by the network' },
      { name: 'conversations', description: 'Stored conversations (ChatTensor extension)' },
      { name: 'status', description: 'Validator, metagraph and service health' },
      { name: 'admin', description: 'API key administration (ADMIN_TOKEN)' },
    ],
    paths: {
      '/v1/chat/completions': {
        post: {
          tags: ['chat'],
          operationId: 'createChatCompletion',
          summary: 'Answer a conversation',
          description:
            'Relays the messages to a validator, which streams the first valid miner answer back. With `stream: true` the answer arrives as ' +
            'server-sent events of `chat.completion.chunk` objects ending with `data: [DONE]`; with `stream_options.include_usage` the last chunk ' +
            'before it has `choices: []` and the usage. A stream that cannot start gets its HTTP error status; an error after the first token ' +
            'is sent in-band as an Error object. Closing the connection cancels the job up to the miner.',
          requestBody: {
            required: true,
            content: json({ anyOf: [ref('ChatCompletionRequest'), ref('RegenerateRequest')] }),
          },
          responses: {
            '200': {
              description: 'The answer',
              headers: rateLimitHeaders,
              content: {
                'application/json': { schema: ref('ChatCompletion') },
                'text/event-stream': {
                  // `data: <ChatCompletionChunk JSON>` events, then `data: [DONE]`. Each event (OpenAPI 3.2's itemSchema,
                  // the stream being a sequence of them): its data is a chunk, an in-band Error, or [DONE].
                  itemSchema: {
                    type: 'object',
                    required: ['data'],
                    properties: {
                      data: {
                        anyOf: [
                          { const: '[DONE]' },
                          {
                            type: 'string',
                            contentMediaType: 'application/json',
                            contentSchema: { anyOf: [ref('ChatCompletionChunk'), ref('Error')] },
                          },
                        ],
                      },
                    },
                  },
                },
              },
            },
            ...errors,
          },
        },
      },
      '/v1/models': {
        get: {
          tags: ['models'],
          operationId: 'listModels',
          summary:
            'Models available: DEFAULT_MODEL (any model the network serves) and every model a miner announces',
          responses: {
            '200': { description: 'Models', content: json(ref('ModelList')) },
            '401': errors['401'],
            ...storageDown,
          },
        },
      },
      '/v1/models/{model}': {
        get: {
          tags: ['models'],
          operationId: 'retrieveModel',
          summary: 'One model',
          parameters: [idParam('model', 'Model id')],
          responses: {
            '200': { description: 'The model', content: json(ref('Model')) },
            '401': errors['401'],
            '404': errors['404'],
            ...storageDown,
          },
        },
      },
      '/v1/conversations': {
        post: {
          tags: ['conversations'],
          operationId: 'createConversation',
          summary: 'Start a conversation owned by the caller (API key, or the anonymous browser session)',
          requestBody: { required: false, content: json(ref('CreateConversationRequest')) },
          responses: {
            '201': { description: 'Created', content: json(ref('Conversation')) },
            '400': errors['400'],
            '401': errors['401'],
            ...storageDown,
          },
        },
        get: {
          tags: ['conversations'],
          operationId: 'listConversations',
          summary: "The caller's conversations, most recently updated first",
          responses: {
            '200': { description: 'Conversations', content: json(ref('ConversationList')) },
            '401': errors['401'],
            ...storageDown,
          },
        },
      },
      '/v1/conversations/{conversation_id}': {
        get: {
          tags: ['conversations'],
          operationId: 'getConversation',
          summary: 'A conversation with its messages',
          parameters: [idParam('conversation_id', 'Conversation id')],
          responses: {
            '200': { description: 'The conversation', content: json(ref('ConversationWithMessages')) },
            '401': errors['401'],
            '404': errors['404'],
            ...storageDown,
          },
        },
        delete: {
          tags: ['conversations'],
          operationId: 'deleteConversation',
          summary: 'Delete a conversation',
          parameters: [idParam('conversation_id', 'Conversation id')],
          responses: {
            '200': { description: 'Deleted', content: json(ref('ConversationDeleted')) },
            '401': errors['401'],
            '404': errors['404'],
            ...storageDown,
          },
        },
      },
      '/v1/status': {
        get: {
          tags: ['status'],
          operationId: 'getStatus',
          summary:
            'Validator identity, stake and delegation, metagraph miners with scores and weights, last weights, service health',
          security: [],
          responses: { '200': { description: 'Status', content: json(ref('Status')) } },
        },
      },
      '/admin/keys': {
        post: {
          tags: ['admin'],
          operationId: 'createApiKey',
          summary: 'Create an API key (the key is returned once; only its SHA-256 is stored)',
          security: [{ adminToken: [] }],
          requestBody: { required: true, content: json(ref('CreateApiKeyRequest')) },
          responses: {
            '201': { description: 'Created', content: json(ref('ApiKeyCreated')) },
            '400': errors['400'],
            '401': errors['401'],
            '404': errorResponse('The admin API is disabled (no ADMIN_TOKEN)'),
            ...storageDown,
          },
        },
        get: {
          tags: ['admin'],
          operationId: 'listApiKeys',
          summary: 'List API keys (never the keys themselves)',
          security: [{ adminToken: [] }],
          responses: {
            '200': { description: 'Keys', content: json(ref('ApiKeyList')) },
            '401': errors['401'],
            '404': errorResponse('The admin API is disabled (no ADMIN_TOKEN)'),
            ...storageDown,
          },
        },
      },
      '/admin/keys/{key_id}': {
        delete: {
          tags: ['admin'],
          operationId: 'revokeApiKey',
          summary: 'Revoke an API key; its next request gets 401',
          security: [{ adminToken: [] }],
          parameters: [idParam('key_id', 'Key id (key_...)')],
          responses: {
            '200': { description: 'Revoked', content: json(ref('ApiKeyDeleted')) },
            '401': errors['401'],
            '404': errors['404'],
            ...storageDown,
          },
        },
      },
    },
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'A ChatTensor API key, ct-...' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'The gateway’s ADMIN_TOKEN' },
      },
      schemas: { ...requestSchemas, ...responseSchemas },
    },
  };
}

export type OpenApiDocument = ReturnType<typeof buildOpenApiDocument>;
