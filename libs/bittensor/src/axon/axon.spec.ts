import { Keypair, initCrypto } from '../keys/keypair';
import { Dendrite, type AxonTarget } from '../dendrite/dendrite';
import { StreamPrompting } from '../synapse/stream-prompting';
import { synapseBodyHash, synapseToHeaders } from '../synapse/synapse';
import { BITTENSOR_VERSION_AS_INT } from '../chain/axon-info';
import { timeNs } from '../auth/dendrite-auth';
import { Axon, PingSynapse, type AxonLogger, type AxonRequest } from './axon';
import { AxonError } from './axon-error';
import { startAxonHttpServer, type RunningAxonServer } from './axon-http-server';

const miner = () => Keypair.fromUri('//AxonUnitMiner');
const caller = () => Keypair.fromUri('//AxonUnitValidator');

describe('Axon', () => {
  let server: RunningAxonServer;
  let target: AxonTarget;
  let axon: Axon;
  const errors: { obj: Record<string, unknown>; msg: string }[] = [];
  let mode: 'echo' | 'throw' | 'slow' | 'refuse' = 'echo';

  beforeAll(async () => {
    await initCrypto();
    const logger: AxonLogger = { debug: () => undefined, warn: () => undefined, error: (obj, msg) => errors.push({ obj: obj as Record<string, unknown>, msg }) };
    axon = new Axon({ keypair: miner(), logger, maxTimeoutSeconds: 30 });
    axon.attachStream(StreamPrompting, {
      blacklist: (hotkey) => ({ blocked: hotkey === Keypair.fromUri('//Banned').ss58Address, reason: 'banned' }),
      forward: async function* ({ fields, signal }) {
        if (mode === 'throw') throw new Error('model exploded');
        if (mode === 'refuse') throw new AxonError(503, 'busy');
        if (mode === 'slow') await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        for (const word of `you said: ${fields.messages.at(-1)}`.split(/(?= )/)) yield word;
      },
    });
    server = await startAxonHttpServer(axon, { host: '127.0.0.1', port: 0 });
    target = { ip: '127.0.0.1', port: server.port, hotkey: miner().ss58Address };
  });

  afterAll(async () => {
    await server.close(100);
  });

  beforeEach(() => {
    mode = 'echo';
    errors.length = 0;
  });

  const ask = (keypair = caller(), to = target, timeoutSeconds?: number) =>
    new Dendrite(keypair).stream(to, StreamPrompting, { roles: ['user'], messages: ['hello ü'] }, { timeoutSeconds }).collect();

  it('streams a signed request and reports success in the synapse headers', async () => {
    const result = await ask();
    expect(result).toMatchObject({ statusCode: 200, statusMessage: 'Success', fields: { completion: 'you said: hello ü' } });
    expect(result.axon).toMatchObject({ hotkey: miner().ss58Address, version: BITTENSOR_VERSION_AS_INT, uuid: axon.uuid });
  });

  it('serves overlapping streams from one dendrite even when they arrive out of signing order', async () => {
    // The first request signed is held back until the others have been served.
    let calls = 0;
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const reordering: typeof fetch = async (url, init) => {
      if (calls++ === 0) await firstHeld;
      return fetch(url, init);
    };
    const dendrite = new Dendrite(caller(), { fetch: reordering });
    const first = dendrite.stream(target, StreamPrompting, { roles: ['user'], messages: ['m0'] }).collect();
    const rest = await Promise.all(Array.from({ length: 5 }, (_, i) => dendrite.stream(target, StreamPrompting, { roles: ['user'], messages: [`m${i + 1}`] }).collect()));
    releaseFirst();
    const results = [await first, ...rest];
    expect(results.map((r) => [r.statusCode, r.fields?.completion])).toEqual(Array.from({ length: 6 }, (_, i) => [200, `you said: m${i}`]));
  });

  it('answers the SDK ping synapse on /Synapse', async () => {
    const result = await new Dendrite(caller()).call(target, PingSynapse, {});
    expect(result.statusCode).toBe(200);
  });

  it('answers 404 naming the synapses it serves for an unknown one', async () => {
    const response = await fetch(`http://127.0.0.1:${server.port}/Nope`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { message: string }).message).toBe("Synapse name 'Nope' not found. Available synapses ['Synapse', 'StreamPrompting']");
    expect(response.headers.get('bt_header_axon_status_code')).toBe('404');
  });

  it('answers 401 to a request without a signature', async () => {
    const fields = { roles: ['user'], messages: ['x'] };
    const headers = synapseToHeaders({
      name: 'StreamPrompting',
      timeoutSeconds: 5,
      dendrite: { hotkey: caller().ss58Address, nonce: timeNs(), uuid: 'u', version: BITTENSOR_VERSION_AS_INT },
      axon: { hotkey: miner().ss58Address },
      requiredFields: StreamPrompting.requiredFields,
      totalSize: 0,
      bodyHash: synapseBodyHash(['messages'], fields),
    });
    const response = await fetch(`http://127.0.0.1:${server.port}/StreamPrompting`, { method: 'POST', headers, body: JSON.stringify(fields) });
    expect(response.status).toBe(401);
    expect(response.headers.get('bt_header_axon_status_message')).toContain('not signed');
  });

  it('answers 401 when the body is not the one that was signed', async () => {
    const forwarding: typeof fetch = (url, init) => fetch(url, { ...init, body: (init?.body as string).replace('hello', 'HELLO') });
    const result = await new Dendrite(caller(), { fetch: forwarding }).stream(target, StreamPrompting, { roles: ['user'], messages: ['hello'] }).collect();
    expect(result.statusCode).toBe(401);
    expect(result.statusMessage).toContain('Hash mismatch');
  });

  it('answers 401 to a replayed request', async () => {
    let replay: { url: string; init: RequestInit } | undefined;
    const recording: typeof fetch = (url, init) => {
      replay = { url: url as string, init: init! };
      return fetch(url, init);
    };
    expect((await new Dendrite(caller(), { fetch: recording }).stream(target, StreamPrompting, { roles: ['user'], messages: ['once'] }).collect()).statusCode).toBe(200);
    const again = await fetch(replay!.url, replay!.init);
    expect(again.status).toBe(401);
  });

  it('answers 403 to a blacklisted hotkey before verifying it', async () => {
    const result = await ask(Keypair.fromUri('//Banned'));
    expect(result).toMatchObject({ statusCode: 403, statusMessage: 'Forbidden. Key is blacklisted: banned.' });
  });

  it('answers 408 when no chunk arrives within the synapse timeout', async () => {
    mode = 'slow';
    // The axon's own deadline, seen directly: call the framework-agnostic core.
    const request = await signedRequest(1);
    const response = await axon.handle(request);
    expect(response.status).toBe(408);
    expect(response.headers.bt_header_axon_status_message).toBe('Response timeout after: 1.0s');
  });

  it('answers 500 with an error id that is also logged, hiding the cause', async () => {
    mode = 'throw';
    const result = await ask();
    expect(result.statusCode).toBe(500);
    const errorId = /^Internal Server Error #([0-9a-f-]{36})$/.exec(result.statusMessage)?.[1];
    expect(errorId).toBeDefined();
    expect(errors).toEqual([expect.objectContaining({ obj: expect.objectContaining({ errorId }) })]);
    expect(result.statusMessage).not.toContain('exploded');
  });

  it('answers with the status of an AxonError thrown by the handler', async () => {
    mode = 'refuse';
    expect((await ask()).statusCode).toBe(503);
  });
});

/** A signed StreamPrompting request as the node adapter would hand it to Axon.handle. */
async function signedRequest(timeoutSeconds: number): Promise<AxonRequest> {
  let captured: { headers: Record<string, string>; body: string } | undefined;
  const capture: typeof fetch = async (_url, init) => {
    captured = { headers: init!.headers as Record<string, string>, body: init!.body as string };
    return new Response('{}', { status: 599 });
  };
  await new Dendrite(caller(), { fetch: capture }).stream({ ip: '127.0.0.1', port: 1, hotkey: miner().ss58Address }, StreamPrompting, { roles: ['user'], messages: ['slow'] }, { timeoutSeconds }).collect();
  return { method: 'POST', path: '/StreamPrompting', headers: captured!.headers, body: captured!.body, signal: new AbortController().signal };
}
