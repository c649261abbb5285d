import { Global, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Dendrite, Keypair, StreamPrompting, initCrypto, type AxonTarget } from '@chattensor/bittensor';
import { AppError, ErrorCode } from '@chattensor/common';
import { GenerationService } from '../generation/generation.service';
import { CallerPolicy } from '../grpc/caller-policy.service';
import { MinerIdentity } from '../identity/miner-identity';
import { AxonModule } from './axon.module';
import { MinerAxonServer } from './miner-axon.server';
import { expectEventually } from '../../../../test/support/expect-eventually';

const miner = () => Keypair.fromUri('//AxonSpecMiner');
const validator = () => Keypair.fromUri('//AxonSpecValidator');

interface GenerateCall {
  messages: { role: string; content: string }[];
  sampling: Record<string, unknown>;
  signal: AbortSignal;
  priority?: number;
}

describe('MinerAxonServer', () => {
  let module: TestingModule;
  let target: AxonTarget;
  const calls: GenerateCall[] = [];
  let behaviour: 'stream' | 'overloaded' | 'hang' = 'stream';

  beforeAll(async () => {
    await initCrypto();
    const generation = {
      async *generate(
        messages: GenerateCall['messages'],
        sampling: GenerateCall['sampling'],
        signal: AbortSignal,
        priority?: number,
      ) {
        calls.push({ messages, sampling, signal, priority });
        if (behaviour === 'overloaded') throw new AppError(ErrorCode.Overloaded, 'miner queue is full');
        if (behaviour === 'hang') {
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          throw new AppError(ErrorCode.Cancelled, 'generation cancelled');
        }
        for (const text of ['Hel', 'lo', '', ' wörld']) yield { text, tokenIds: text ? [1] : [] };
        yield { text: '', tokenIds: [], finishReason: 'stop', usage: { promptTokens: 3, completionTokens: 3 } };
      },
    };
    const policy = {
      admit(hotkey: string): number {
        if (hotkey !== validator().ss58Address) throw new AppError(ErrorCode.PermissionDenied, `caller ${hotkey} has no validator permit`);
        return 1000;
      },
    };
    @Global()
    @Module({
      providers: [
        { provide: GenerationService, useValue: generation },
        { provide: CallerPolicy, useValue: policy },
        { provide: MinerIdentity, useValue: { hotkey: miner() } },
      ],
      exports: [GenerationService, CallerPolicy, MinerIdentity],
    })
    class MinerFakesModule {}

    module = await Test.createTestingModule({
      imports: [MinerFakesModule, AxonModule.forRoot({ enabled: true, host: '127.0.0.1', port: 0, maxTimeoutSeconds: 30, bodyLimitBytes: 1 << 20, legacySdk10: true })],
    }).compile();
    await module.init();
    target = { ip: '127.0.0.1', port: module.get(MinerAxonServer).port, hotkey: miner().ss58Address };
  });

  afterAll(async () => {
    await module.close();
  });

  beforeEach(() => {
    calls.length = 0;
    behaviour = 'stream';
  });

  it('streams the generation to a validator as StreamPrompting text chunks', async () => {
    const call = new Dendrite(validator()).stream(target, StreamPrompting, { roles: ['system', 'user'], messages: ['Be brief.', 'Hi'], max_tokens: 5, temperature: 0.5, seed: 7 });
    const chunks: string[] = [];
    for await (const chunk of call) chunks.push(chunk);
    const result = await call.result;

    expect(result.statusCode).toBe(200);
    expect(chunks.join('')).toBe('Hello wörld');
    expect(result.fields?.completion).toBe('Hello wörld');
    expect(calls[0].messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ]);
    expect(calls[0].sampling).toEqual({ maxTokens: 5, temperature: 0.5, seed: 7 });
  });

  it("queues the generation with the caller's stake as its priority", async () => {
    await new Dendrite(validator()).stream(target, StreamPrompting, { roles: ['user'], messages: ['Hi'] }).collect();
    expect(calls[0].priority).toBe(1000);
  });

  it('answers 403 to a caller the policy does not admit, without generating', async () => {
    const result = await new Dendrite(Keypair.fromUri('//NotAValidator')).stream(target, StreamPrompting, { roles: ['user'], messages: ['Hi'] }).collect();
    expect(result.statusCode).toBe(403);
    expect(result.statusMessage).toContain('has no validator permit');
    expect(calls).toHaveLength(0);
  });

  it('answers 503 when the model queue is full', async () => {
    behaviour = 'overloaded';
    const result = await new Dendrite(validator()).stream(target, StreamPrompting, { roles: ['user'], messages: ['Hi'] }).collect();
    expect(result.statusCode).toBe(503);
  });

  it('gives up with 408 and stops the generation when nothing comes within the synapse timeout', async () => {
    behaviour = 'hang';
    const result = await new Dendrite(validator()).stream(target, StreamPrompting, { roles: ['user'], messages: ['Hi'] }, { timeoutSeconds: 2 }).collect();
    expect(result.statusCode).toBe(408);
    await expectEventually(() => expect(calls[0].signal.aborted).toBe(true));
  });

  it('answers 400 when roles and messages do not pair up', async () => {
    const result = await new Dendrite(validator()).stream(target, StreamPrompting, { roles: ['user', 'user'], messages: ['Hi'] }).collect();
    expect(result.statusCode).toBe(400);
    expect(calls).toHaveLength(0);
  });
});
