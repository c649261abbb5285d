import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dendrite, Keypair, StreamPrompting, Wallet, initCrypto, type AxonTarget } from '@chattensor/bittensor';
import { startPython } from './support/python';

let dir: string;
let stopAxon: () => Promise<void>;
let axonLog: () => string;
let target: AxonTarget;
const validator = () => Keypair.fromUri('//InteropValidator');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  await initCrypto();
  dir = await mkdtemp(join(tmpdir(), 'chattensor-dendrite-interop-'));
  // The Python axon runs on a wallet ChatTensor wrote.
  const wallet = new Wallet({ path: dir, name: 'axon', hotkey: 'default' });
  const hotkey = Keypair.fromUri('//PythonAxon');
  await wallet.writeColdkey(Keypair.fromUri('//PythonAxonCold'));
  await wallet.writeHotkey(hotkey);
  const port = await freePort();
  const axon = await startPython('serve_axon.py', [dir, String(port), validator().ss58Address]);
  stopAxon = axon.stop;
  axonLog = axon.stderr;
  expect(axon.ready).toBe(hotkey.ss58Address);
  target = { ip: '127.0.0.1', port, hotkey: hotkey.ss58Address };
});

afterAll(async () => {
  await stopAxon?.();
  await rm(dir, { recursive: true, force: true });
});

describe('the ChatTensor dendrite querying a Python bittensor.Axon', () => {
  it('passes the SDK axon’s verification and receives the streamed answer', async () => {
    const dendrite = new Dendrite(validator());
    const call = dendrite.stream(target, StreamPrompting, { roles: ['user'], messages: ["say 'it' — ünï 🚀"] }, { timeoutSeconds: 20 });
    const chunks: string[] = [];
    for await (const chunk of call) chunks.push(chunk);
    const result = await call.result;
    expect({ status: result.statusCode, message: result.statusMessage, log: result.statusCode === 200 ? '' : axonLog() }).toEqual({ status: 200, message: 'Success', log: '' });
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.join('')).toBe("echo: say 'it' — ünï 🚀");
    expect(result.fields?.completion).toBe(chunks.join(''));
    expect(result.axon.hotkey).toBe(target.hotkey);
  });

  it('sends nonces the SDK accepts on consecutive calls from one dendrite', async () => {
    const dendrite = new Dendrite(validator());
    for (let i = 0; i < 3; i++) {
      const result = await dendrite.stream(target, StreamPrompting, { roles: ['user'], messages: [`n${i}`] }).collect();
      expect({ i, status: result.statusCode, completion: result.fields?.completion }).toEqual({ i, status: 200, completion: `echo: n${i}` });
    }
  });

  it('runs overlapping queries to one Python axon, accepted even when they arrive out of signing order', async () => {
    let calls = 0;
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const reordering: typeof fetch = async (url, init) => {
      if (calls++ === 0) await firstHeld;
      return fetch(url, init);
    };
    const dendrite = new Dendrite(validator(), { fetch: reordering });
    const first = dendrite.stream(target, StreamPrompting, { roles: ['user'], messages: ['p0'] }).collect();
    const rest = await Promise.all(Array.from({ length: 5 }, (_, i) => dendrite.stream(target, StreamPrompting, { roles: ['user'], messages: [`p${i + 1}`] }).collect()));
    releaseFirst();
    const results = [await first, ...rest];
    expect(results.map((r) => [r.statusCode, r.fields?.completion])).toEqual(Array.from({ length: 6 }, (_, i) => [200, `echo: p${i}`]));
  });

  it('is refused with 401 when it addresses the wrong hotkey', async () => {
    const result = await new Dendrite(validator()).stream({ ...target, hotkey: Keypair.fromUri('//Other').ss58Address }, StreamPrompting, { roles: ['user'], messages: ['hi'] }).collect();
    expect(result.statusCode).toBe(401);
    expect(result.statusMessage).toContain('Not Verified');
  });

  it('is refused with 403 by the Python blacklist for a key it does not know', async () => {
    const result = await new Dendrite(Keypair.fromUri('//Stranger')).stream(target, StreamPrompting, { roles: ['user'], messages: ['hi'] }).collect();
    expect(result.statusCode).toBe(403);
  });

  it('reports 503 for an axon that is not there', async () => {
    const result = await new Dendrite(validator()).stream({ ...target, port: await freePort() }, StreamPrompting, { roles: ['user'], messages: ['hi'] }).collect();
    expect(result.statusCode).toBe(503);
  });
});
