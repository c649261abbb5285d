import { minerTransportOf, openAIChatBody } from './btauth-miner.transport';

describe('miner protocol from the axon info', () => {
  it('reads protocol 0 as gRPC, protocol 4 below version 1,000,000 as btauth/1, above as the SDK-10 axon', () => {
    expect(minerTransportOf({ protocol: 0, version: 0 })).toBe('grpc');
    expect(minerTransportOf({ protocol: 4, version: 0 })).toBe('btauth');
    expect(minerTransportOf({ protocol: 4, version: 1 })).toBe('btauth');
    expect(minerTransportOf({ protocol: 4, version: 999_999 })).toBe('btauth');
    expect(minerTransportOf({ protocol: 4, version: 10_005_000 })).toBe('axon');
    expect(minerTransportOf({ protocol: 4, version: 9_004_000 })).toBe('axon');
  });
});

describe('the OpenAI body sent to a btauth/1 miner', () => {
  it('streams with usage and sends the non-OpenAI knobs only when set', () => {
    const body = openAIChatBody({
      requestId: 'r',
      model: '',
      messages: [{ role: 'user', content: 'hi' }],
      sampling: {
        maxTokens: 5,
        temperature: 0,
        topK: 0,
        seed: 7n,
        stop: [],
        presencePenalty: 0,
        frequencyPenalty: 0,
        minP: 0,
        repetitionPenalty: 0,
      },
    });
    expect(body).toEqual({
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 5,
      temperature: 0,
      seed: 7,
    });
  });

  it('asks for the last assistant message to be continued when it resumes an answer', () => {
    const body = openAIChatBody({
      requestId: 'r',
      model: 'm',
      messages: [
        { role: 'user', content: 'Count to five.' },
        { role: 'assistant', content: 'One, two,' },
      ],
      sampling: undefined,
      continueFinalMessage: true,
    });
    expect(body).toEqual({
      model: 'm',
      messages: [
        { role: 'user', content: 'Count to five.' },
        { role: 'assistant', content: 'One, two,' },
      ],
      stream: true,
      stream_options: { include_usage: true },
      continue_final_message: true,
      add_generation_prompt: false,
    });
  });
});
