/**
 * The gateway's API as an OpenAPI 3.1 document, served at /openapi.json.
 * Written by hand next to the controllers; a unit test checks that every
 * route the controllers declare is described here and nothing else is.
 */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const errorResponse = (description: string, headers?: object) => ({
  description,
  content: json(ref('Error')),
  ...(headers ? { headers } : {}),
});
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
    description: 'Requests left in the current minute window',
  },
  'x-ratelimit-limit-tokens': {
    schema: { type: 'integer' },
    description: 'Tokens per minute allowed to the caller',
  },
  'x-ratelimit-remaining-tokens': {
    schema: { type: 'integer' },
    description: 'Tokens left, after this request’s estimate',
  },
};
const errors = {
  '400': errorResponse('Invalid request (the error names the parameter)'),
  '401': errorResponse('Missing, wrong or revoked API key'),
  '404': errorResponse('Unknown model, conversation or route'),
  '413': errorResponse('Request body larger than MAX_BODY_BYTES'),
  '429': errorResponse(
    'Rate limit of the key (or client address) reached, or every validator is saturated',
    retryAfter,
  ),
  '500': errorResponse('Internal error; the message carries an error id that is also in the gateway log'),
  '503': errorResponse('No validator accepted the request in time, or no miner is available', retryAfter),
};
const idParam = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
});
const secured = [{ apiKey: [] }, {}];

const textContent = {
  anyOf: [
    { type: 'string' },
    {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['type', 'text'],
        properties: { type: { const: 'text' }, text: { type: 'string' } },
      },
    },
    { type: 'null' },
  ],
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'ChatTensor gateway',
    version: '1.0.0',
    summary: 'OpenAI-compatible chat on the Bittensor network',
    description:
      'Chat completions answered by Bittensor miners through a validator cluster. Compatible with the OpenAI Chat Completions API ' +
      '(use any OpenAI client with this base URL + /v1); ChatTensor extensions are marked as such. ' +
      'Without an API key, requests use the anonymous tier (limited per client address) unless the operator switched it off.',
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
          'before it has `choices: []` and the usage. An error after the stream started is sent in-band as an Error object. ' +
          'Closing the connection cancels the job up to the miner.',
        requestBody: { required: true, content: json(ref('ChatCompletionRequest')) },
        responses: {
          '200': {
            description: 'The answer',
            headers: rateLimitHeaders,
            content: {
              'application/json': { schema: ref('ChatCompletion') },
              'text/event-stream': {
                schema: {
                  type: 'string',
                  description: 'data: <ChatCompletionChunk JSON> lines, then data: [DONE]',
                },
                itemSchema: ref('ChatCompletionChunk'),
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
          '200': {
            description: 'Models',
            content: json({
              type: 'object',
              required: ['object', 'data'],
              properties: { object: { const: 'list' }, data: { type: 'array', items: ref('Model') } },
            }),
          },
          '401': errors['401'],
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
        },
      },
    },
    '/v1/conversations': {
      post: {
        tags: ['conversations'],
        operationId: 'createConversation',
        summary: 'Start a conversation owned by the caller (API key, or the anonymous tier)',
        requestBody: {
          required: false,
          content: json({ type: 'object', properties: { title: { type: 'string', maxLength: 200 } } }),
        },
        responses: {
          '201': { description: 'Created', content: json(ref('Conversation')) },
          '400': errors['400'],
          '401': errors['401'],
        },
      },
      get: {
        tags: ['conversations'],
        operationId: 'listConversations',
        summary: "The caller's conversations, most recently updated first",
        responses: {
          '200': {
            description: 'Conversations',
            content: json({
              type: 'object',
              properties: { object: { const: 'list' }, data: { type: 'array', items: ref('Conversation') } },
            }),
          },
          '401': errors['401'],
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
          '200': {
            description: 'The conversation',
            content: json({
              allOf: [
                ref('Conversation'),
                { type: 'object', properties: { messages: { type: 'array', items: ref('StoredMessage') } } },
              ],
            }),
          },
          '401': errors['401'],
          '404': errors['404'],
        },
      },
      delete: {
        tags: ['conversations'],
        operationId: 'deleteConversation',
        summary: 'Delete a conversation',
        parameters: [idParam('conversation_id', 'Conversation id')],
        responses: {
          '200': {
            description: 'Deleted',
            content: json({
              type: 'object',
              properties: {
                id: { type: 'string' },
                object: { const: 'conversation.deleted' },
                deleted: { const: true },
              },
            }),
          },
          '401': errors['401'],
          '404': errors['404'],
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
        requestBody: {
          required: true,
          content: json({
            type: 'object',
            required: ['name'],
            additionalProperties: false,
            properties: {
              name: { type: 'string', minLength: 1, maxLength: 100 },
              requests_per_minute: {
                type: 'integer',
                minimum: 1,
                description: 'Default KEY_REQUESTS_PER_MINUTE',
              },
              tokens_per_minute: {
                type: 'integer',
                minimum: 1,
                description: 'Default KEY_TOKENS_PER_MINUTE',
              },
            },
          }),
        },
        responses: {
          '201': {
            description: 'Created',
            content: json({
              allOf: [
                ref('ApiKey'),
                {
                  type: 'object',
                  required: ['key'],
                  properties: { key: { type: 'string', pattern: '^ct-' } },
                },
              ],
            }),
          },
          '400': errors['400'],
          '401': errors['401'],
          '404': errorResponse('The admin API is disabled (no ADMIN_TOKEN)'),
        },
      },
      get: {
        tags: ['admin'],
        operationId: 'listApiKeys',
        summary: 'List API keys (never the keys themselves)',
        security: [{ adminToken: [] }],
        responses: {
          '200': {
            description: 'Keys',
            content: json({
              type: 'object',
              properties: { object: { const: 'list' }, data: { type: 'array', items: ref('ApiKey') } },
            }),
          },
          '401': errors['401'],
          '404': errorResponse('The admin API is disabled (no ADMIN_TOKEN)'),
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
          '200': {
            description: 'Revoked',
            content: json({
              type: 'object',
              properties: {
                id: { type: 'string' },
                object: { const: 'api_key.deleted' },
                deleted: { const: true },
              },
            }),
          },
          '401': errors['401'],
          '404': errors['404'],
        },
      },
    },
  },
  components: {
    securitySchemes: {
      apiKey: { type: 'http', scheme: 'bearer', description: 'A ChatTensor API key, ct-...' },
      adminToken: { type: 'http', scheme: 'bearer', description: 'The gateway’s ADMIN_TOKEN' },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['message', 'type', 'param', 'code'],
            properties: {
              message: { type: 'string' },
              type: {
                type: 'string',
                examples: [
                  'invalid_request_error',
                  'authentication_error',
                  'rate_limit_error',
                  'server_error',
                  'service_unavailable',
                ],
              },
              param: { type: ['string', 'null'] },
              code: {
                type: ['string', 'null'],
                examples: [
                  'model_not_found',
                  'invalid_api_key',
                  'rate_limit_exceeded',
                  'overloaded',
                  'internal_error',
                ],
              },
            },
          },
        },
      },
      ChatMessage: {
        type: 'object',
        required: ['role', 'content'],
        properties: {
          role: { enum: ['system', 'developer', 'user', 'assistant'] },
          content: textContent,
          name: { type: 'string' },
        },
      },
      ChatCompletionRequest: {
        type: 'object',
        required: ['model', 'messages'],
        properties: {
          model: { type: 'string', description: 'A model id from /v1/models' },
          messages: {
            type: 'array',
            items: ref('ChatMessage'),
            description: 'At least one, unless regenerate is true',
          },
          stream: { type: ['boolean', 'null'] },
          stream_options: { type: ['object', 'null'], properties: { include_usage: { type: 'boolean' } } },
          max_tokens: {
            type: ['integer', 'null'],
            minimum: 1,
            description: 'Deprecated alias of max_completion_tokens',
          },
          max_completion_tokens: {
            type: ['integer', 'null'],
            minimum: 1,
            description: 'Default DEFAULT_MAX_TOKENS, at most MAX_TOKENS_LIMIT',
          },
          temperature: { type: ['number', 'null'], minimum: 0, maximum: 2 },
          top_p: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 1 },
          n: {
            type: ['integer', 'null'],
            minimum: 1,
            maximum: 8,
            description: 'Answers wanted; each comes from a different miner when enough are available',
          },
          stop: {
            anyOf: [
              { type: 'string' },
              { type: 'array', items: { type: 'string' }, maxItems: 4 },
              { type: 'null' },
            ],
          },
          seed: { type: ['integer', 'null'], minimum: 0 },
          presence_penalty: { type: ['number', 'null'], minimum: -2, maximum: 2 },
          frequency_penalty: { type: ['number', 'null'], minimum: -2, maximum: 2 },
          user: { type: ['string', 'null'], maxLength: 256 },
          conversation_id: {
            type: ['string', 'null'],
            description:
              'ChatTensor extension: continue this stored conversation (its history is sent, trimmed to the context)',
          },
          regenerate: {
            type: ['boolean', 'null'],
            description:
              'ChatTensor extension: with conversation_id and no messages, answer again and replace the stored last answer',
          },
        },
      },
      Usage: {
        type: 'object',
        required: ['prompt_tokens', 'completion_tokens', 'total_tokens'],
        properties: {
          prompt_tokens: { type: 'integer' },
          completion_tokens: { type: 'integer' },
          total_tokens: { type: 'integer' },
        },
      },
      MinerRef: {
        type: 'object',
        description: 'ChatTensor extension: the miner that produced an answer',
        properties: {
          uid: { type: 'integer' },
          hotkey: { type: 'string' },
          score: { type: 'number' },
          model: { type: 'string' },
          index: { type: 'integer' },
        },
      },
      ChatCompletion: {
        type: 'object',
        required: ['id', 'object', 'created', 'model', 'choices', 'usage'],
        properties: {
          id: { type: 'string' },
          object: { const: 'chat.completion' },
          created: { type: 'integer' },
          model: { type: 'string' },
          system_fingerprint: { type: ['string', 'null'] },
          choices: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                index: { type: 'integer' },
                message: {
                  type: 'object',
                  properties: {
                    role: { const: 'assistant' },
                    content: { type: 'string' },
                    refusal: { type: 'null' },
                  },
                },
                logprobs: { type: 'null' },
                finish_reason: { enum: ['stop', 'length'] },
              },
            },
          },
          usage: ref('Usage'),
          chattensor: {
            type: 'object',
            properties: { validator: { type: 'string' }, miners: { type: 'array', items: ref('MinerRef') } },
          },
        },
      },
      ChatCompletionChunk: {
        type: 'object',
        required: ['id', 'object', 'created', 'model', 'choices'],
        properties: {
          id: { type: 'string' },
          object: { const: 'chat.completion.chunk' },
          created: { type: 'integer' },
          model: { type: 'string' },
          choices: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                index: { type: 'integer' },
                delta: {
                  type: 'object',
                  properties: { role: { const: 'assistant' }, content: { type: 'string' } },
                },
                finish_reason: { enum: ['stop', 'length', null] },
              },
            },
          },
          usage: ref('Usage'),
          chattensor: {
            type: 'object',
            description: 'On the chunk that finishes a choice: the validator and miner that produced it',
            properties: { validator: { type: 'string' }, miner: ref('MinerRef'), model: { type: 'string' } },
          },
        },
      },
      Model: {
        type: 'object',
        required: ['id', 'object', 'created', 'owned_by'],
        properties: {
          id: { type: 'string' },
          object: { const: 'model' },
          created: { type: 'integer' },
          owned_by: { type: 'string' },
        },
      },
      Conversation: {
        type: 'object',
        required: ['id', 'object', 'title', 'created_at', 'updated_at'],
        properties: {
          id: { type: 'string' },
          object: { const: 'conversation' },
          title: { type: 'string' },
          created_at: { type: 'integer', description: 'Milliseconds since the epoch' },
          updated_at: { type: 'integer', description: 'Milliseconds since the epoch' },
        },
      },
      StoredMessage: {
        type: 'object',
        required: ['role', 'content', 'at'],
        properties: {
          role: { enum: ['system', 'user', 'assistant'] },
          content: { type: 'string' },
          at: { type: 'integer' },
          miner: ref('MinerRef'),
          stopped: {
            type: 'boolean',
            description: 'An answer the client stopped while it streamed; content is what it had received',
          },
        },
      },
      ApiKey: {
        type: 'object',
        required: ['id', 'object', 'name', 'hint', 'created_at', 'requests_per_minute', 'tokens_per_minute'],
        properties: {
          id: { type: 'string' },
          object: { const: 'api_key' },
          name: { type: 'string' },
          hint: { type: 'string', description: 'First and last characters of the key' },
          created_at: { type: 'integer', description: 'Seconds since the epoch' },
          requests_per_minute: { type: 'integer' },
          tokens_per_minute: { type: 'integer' },
        },
      },
      Status: {
        type: 'object',
        properties: {
          netuid: { type: 'integer' },
          mode: { enum: ['local', 'subtensor'] },
          block: { type: ['integer', 'null'] },
          updated_at: { type: ['integer', 'null'] },
          validator: {
            type: ['object', 'null'],
            description:
              'The validator this gateway serves: hotkey, stake, delegate take and how to delegate to it',
            properties: {
              hotkey: { type: 'string' },
              uid: { type: ['integer', 'null'] },
              stake: { type: ['number', 'null'] },
              take: { type: ['number', 'null'] },
              total_stake: { type: ['number', 'null'] },
              nominators: { type: ['integer', 'null'] },
              delegate_command: { type: 'string' },
            },
          },
          validators: { type: 'array', items: { type: 'object' } },
          miners: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                uid: { type: 'integer' },
                hotkey: { type: 'string' },
                model: { type: ['string', 'null'] },
                active: { type: 'boolean' },
                score: { type: ['number', 'null'] },
                weight: { type: ['number', 'null'] },
                incentive: { type: ['number', 'null'] },
                verification: {
                  type: ['object', 'null'],
                  description: 'Answers checked against the reference model (null while verification is off)',
                  properties: {
                    verified: { type: 'integer' },
                    failed: { type: 'object', additionalProperties: { type: 'integer' }, description: 'failed answers by reason' },
                    synthetic_verified: { type: 'integer' },
                    synthetic_failed: { type: 'integer' },
                  },
                },
                excluded_until: {
                  type: ['integer', 'null'],
                  description: 'kept from user traffic until then (ms since the epoch) after a failed verification',
                },
                score_history: { type: 'array', items: { type: 'number' }, description: 'recent scores, oldest first' },
                score_history_interval_ms: { type: ['integer', 'null'] },
              },
            },
          },
          last_weights: { type: ['object', 'null'] },
          health: { type: 'object' },
        },
      },
    },
  },
} as const;
