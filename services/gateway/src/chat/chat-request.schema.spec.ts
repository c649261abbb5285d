import { AppError, ErrorCode } from '@chattensor/common';
import { contentText, parseChatRequest } from './chat-request.schema';

const base = { model: 'chattensor', messages: [{ role: 'user', content: 'hi' }] };
const errorOf = (body: unknown): AppError => {
  try {
    parseChatRequest(body);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected the request to be refused');
};

describe('validating a chat completion request', () => {
  it('accepts every OpenAI parameter the gateway honours', () => {
    const request = parseChatRequest({
      ...base,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 5,
      max_completion_tokens: 6,
      temperature: 0.2,
      top_p: 0.5,
      n: 2,
      stop: ['a', 'b'],
      seed: 3,
      presence_penalty: 1,
      frequency_penalty: -1,
      user: 'u',
    });
    expect(request.n).toBe(2);
  });

  it.each([
    [{ ...base, temperature: 3 }, 'temperature'],
    [{ ...base, messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    [{ ...base, messages: [] }, 'messages'],
    [{ model: 'chattensor' }, 'messages'],
    [{ ...base, model: '' }, 'model'],
    [{ ...base, n: 9 }, 'n'],
    [{ ...base, stop: ['1', '2', '3', '4', '5'] }, 'stop'],
    [{ ...base, tools: [{ type: 'function' }] }, 'tools'],
    [{ ...base, regenerate: true }, 'conversation_id'],
    [{ ...base, max_tokens: 40_000 }, 'max_tokens'],
    [{ ...base, logprobs: true }, 'logprobs'],
    [{ ...base, conversation_id: 'c', regenerate: true }, 'messages'],
  ])('names the offending parameter of %j', (body, param) => {
    const error = errorOf(body);
    expect(error.code).toBe(ErrorCode.InvalidRequest);
    expect(error.param).toBe(param);
  });

  it('allows an empty message list only to regenerate a conversation', () => {
    expect(
      parseChatRequest({ model: 'chattensor', messages: [], conversation_id: 'conv_1', regenerate: true })
        .regenerate,
    ).toBe(true);
  });

  it('refuses a body that is not an object', () => {
    expect(errorOf([1, 2]).message).toBe('The request body must be a JSON object.');
  });

  it('joins text parts into the message text', () => {
    expect(
      contentText([
        { type: 'text', text: 'a' },
        { type: 'text', text: 'b' },
      ]),
    ).toBe('ab');
    expect(contentText(null)).toBe('');
  });
});
