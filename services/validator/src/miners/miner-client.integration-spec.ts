import { Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js';
import { initCrypto } from '@chattensor/bittensor';
import { AppError, ErrorCode } from '@chattensor/common';
import { AxonProtocol, minerV1, type Neuron } from '@chattensor/protocol';
import { freePort } from '../../../../test/support/infra';
import { ValidatorIdentity } from '../identity/validator-identity';
import { MinerClient } from './miner-client';

const GENERATE_PATH = '/chattensor.miner.v1.MinerService/Generate';

/** A real gRPC server on `port` that answers every Generate with one chunk naming `name`. */
async function startMiner(port: number, name: string): Promise<Server> {
  const server = new Server();
  server.register(
    GENERATE_PATH,
    (call: ServerWritableStream<Buffer, minerV1.GenerateResponse>) => {
      call.write({ textDelta: name, tokenCount: 1, tokenIds: [1], finishReason: 'stop', model: name, usage: undefined });
      call.end();
    },
    (response: minerV1.GenerateResponse) => Buffer.from(minerV1.GenerateResponse.encode(response).finish()),
    (request: Buffer) => request,
    'serverStream',
  );
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())),
  );
  return server;
}

async function collect(call: { responses: AsyncIterable<minerV1.GenerateResponse> }): Promise<string> {
  let text = '';
  for await (const chunk of call.responses) text += chunk.textDelta;
  return text;
}

async function failure(call: { responses: AsyncIterable<minerV1.GenerateResponse> }): Promise<AppError> {
  try {
    await collect(call);
  } catch (error) {
    return error as AppError;
  }
  throw new Error('the call succeeded');
}

/**
 * The validator's gRPC client against a miner that is killed and comes back
 * on the same address: a call made while the channel is still backing off
 * from the failed connection waits for its next attempt instead of failing
 * at once, so a restarted miner serves (and can take over an answer) as soon
 * as it listens again.
 */
describe('MinerClient over gRPC', () => {
  let client: MinerClient;
  let port: number;
  let miner: Neuron;
  const request = minerV1.GenerateRequest.fromPartial({ messages: [{ role: 'user', content: 'hi' }] });

  beforeAll(async () => {
    await initCrypto();
    client = new MinerClient(await ValidatorIdentity.load({ uri: '//miner-client/validator', walletName: 'default', hotkeyName: 'default' }));
    port = await freePort();
    miner = {
      uid: 7,
      hotkey: '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY',
      axon: { ip: '127.0.0.1', port, protocol: AxonProtocol.grpc, version: 0 },
    } as Neuron;
  });

  afterAll(() => client.onApplicationShutdown());

  it('waits for the reconnect to a restarted miner instead of failing the call at once', async () => {
    const first = await startMiner(port, 'first');
    expect(await collect(client.generate(miner, request, { timeoutMs: 10_000 }))).toBe('first');
    // Killed: the connection drops and the next call finds nobody (the channel backs off).
    first.forceShutdown();
    const down = await failure(client.generate(miner, request, { timeoutMs: 10_000 }));
    expect(down.code).toBe(ErrorCode.Unavailable);
    // Back on the same address while the channel still waits out its backoff.
    const second = await startMiner(port, 'second');
    try {
      expect(await collect(client.generate(miner, request, { timeoutMs: 10_000 }))).toBe('second');
    } finally {
      second.forceShutdown();
    }
  });

  it('fails with Unavailable, naming the miner, when it stays down', async () => {
    const error = await failure(client.generate(miner, request, { timeoutMs: 10_000 }));
    expect(error).toBeInstanceOf(AppError);
    expect(error.code).toBe(ErrorCode.Unavailable);
  });

  it('ends a call cancelled while it waits for the connection', async () => {
    const call = client.generate(miner, request, { timeoutMs: 10_000 });
    const pending = failure(call);
    call.cancel();
    expect((await pending).code).toBe(ErrorCode.Cancelled);
  });
});
