import { AxonProtocol, type minerV1, type Neuron } from '@chattensor/protocol';
import { canContinue, combinedUsage, continuationRequest } from './answer-failover.util';

const request: minerV1.GenerateRequest = {
  requestId: 'job-1',
  model: 'm',
  messages: [{ role: 'user', content: 'Tell me a story' }],
  sampling: {
    maxTokens: 20,
    temperature: 0,
    topK: 0,
    stop: [],
    presencePenalty: 0,
    frequencyPenalty: 0,
    minP: 0,
    repetitionPenalty: 0,
  },
};

describe('answer failover', () => {
  it('asks the same question again when nothing was delivered yet', () => {
    expect(continuationRequest(request, { text: '', tokens: 0 })).toBe(request);
  });

  it('resumes a started answer as the assistant turn to continue, for the tokens still allowed', () => {
    const resumed = continuationRequest(request, { text: 'Once upon', tokens: 6 })!;
    expect(resumed.messages).toEqual([
      { role: 'user', content: 'Tell me a story' },
      { role: 'assistant', content: 'Once upon' },
    ]);
    expect(resumed.continueFinalMessage).toBe(true);
    expect(resumed.sampling?.maxTokens).toBe(14);
    expect(request.messages).toHaveLength(1);
  });

  it('has nothing left to ask when every allowed token was delivered', () => {
    expect(continuationRequest(request, { text: 'x'.repeat(20), tokens: 20 })).toBeUndefined();
  });

  it('reports the delivered part as completion, not as prompt', () => {
    expect(
      combinedUsage({ promptTokens: 16, completionTokens: 14 }, { text: 'Once upon', tokens: 6 }),
    ).toEqual({
      promptTokens: 10,
      completionTokens: 20,
    });
  });

  it('resumes only on transports that can continue an assistant turn', () => {
    const neuron = (protocol: number, version = 0): Neuron => ({
      uid: 1,
      hotkey: 'hk',
      stake: 0,
      validatorPermit: false,
      active: true,
      axon: { ip: '10.0.0.1', port: 1, protocol, version },
    });
    expect(canContinue(neuron(AxonProtocol.grpc))).toBe(true);
    // The OpenAI API behind btauth/1 continues the last assistant message (continue_final_message).
    expect(canContinue(neuron(AxonProtocol.bittensorHttp))).toBe(true);
    // An SDK-10 axon (its version_as_int) has no way to.
    expect(canContinue(neuron(AxonProtocol.bittensorHttp, 10_005_000))).toBe(false);
    expect(canContinue({ ...neuron(AxonProtocol.grpc), axon: null })).toBe(false);
  });
});
