/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Axon,
  Keypair,
  StreamPrompting,
  initCrypto,
  startAxonHttpServer,
  streamPromptingToChat,
  verifySignature,
  type RunningAxonServer,
} from '@chattensor/bittensor';
import { InferenceEngine, generateModel } from '@chattensor/inference';
import { runPython } from './support/python';

interface PyQuery {
  chunks: string[];
  completion: string;
  status_code: number;
  status_message: string;
  axon_status_code: number;
  axon_hotkey: string;
  axon_signature: string;
  axon_nonce: string;
  axon_uuid: string;
  dendrite_hotkey: string;
  is_success: boolean;
}

const VALIDATOR_URI = '//InteropValidator';
const MAX_TOKENS = 24;

let dir: string;
let engine: InferenceEngine;
let server: RunningAxonServer;
let miner: Keypair;

async function pythonQuery(uri: string, axonHotkey: string, request: Record<string, unknown>): Promise<PyQuery> {
  const run = await runPython('query_axon.py', [uri, '127.0.0.1', String(server.port), axonHotkey, JSON.stringify(request)]);
  if (run.code !== 0) throw new Error(`query_axon.py failed (${run.code}): ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as PyQuery;
}

beforeAll(async () => {
  await initCrypto();
  dir = await mkdtemp(join(tmpdir(), 'chattensor-axon-interop-'));
  await generateModel({ outDir: join(dir, 'model'), preset: 'tiny', seed: 11 });
  engine = await InferenceEngine.load(join(dir, 'model'));
  miner = Keypair.fromUri('//InteropMiner');
  const validator = Keypair.fromUri(VALIDATOR_URI).ss58Address;
  const axon = new Axon({ keypair: miner, logger: { debug: () => undefined, warn: console.warn, error: console.error } });
  axon.attachStream(StreamPrompting, {
    blacklist: (hotkey) => ({ blocked: hotkey !== validator, reason: hotkey === validator ? 'validator' : 'not a validator of this subnet' }),
    forward: async function* ({ fields, signal }) {
      const { messages, sampling } = streamPromptingToChat(fields);
      for await (const chunk of engine.generate(messages, { maxTokens: MAX_TOKENS, temperature: 0, ...sampling }, signal)) {
        if (chunk.text) yield chunk.text;
      }
    },
  });
  server = await startAxonHttpServer(axon, { host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await server?.close(1000);
  await engine?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a Python bittensor.Dendrite querying the ChatTensor axon', () => {
  it('is accepted and streams the generated completion into the final synapse', async () => {
    const request = { roles: ['system', 'user'], messages: ['You are terse.', "What's the capital of France? \"Paris\" ünï 🚀"], max_tokens: 16 };
    const answer = await pythonQuery(VALIDATOR_URI, miner.ss58Address, { ...request, timeout: 60 });

    expect(answer).toMatchObject({ status_code: 200, axon_status_code: 200, is_success: true, axon_hotkey: miner.ss58Address });
    expect(answer.chunks.length).toBeGreaterThan(1);
    expect(answer.completion).toBe(answer.chunks.join(''));
    // The same prompt run straight through the engine gives the same greedy text.
    let direct = '';
    for await (const chunk of engine.generate(streamPromptingToChat({ ...request, completion: '' }).messages, { maxTokens: 16, temperature: 0 })) direct += chunk.text;
    expect(answer.completion).toBe(direct);
    // The axon signed its side of the exchange, as the SDK's axon does.
    const axonMessage = `${answer.axon_nonce}.${answer.dendrite_hotkey}.${miner.ss58Address}.${answer.axon_uuid}`;
    expect(verifySignature(axonMessage, answer.axon_signature, miner.ss58Address)).toBe(true);
  });

  it('gets 401 when the request is addressed to another hotkey', async () => {
    const answer = await pythonQuery(VALIDATOR_URI, Keypair.fromUri('//SomeoneElse').ss58Address, { roles: ['user'], messages: ['hi'] });
    expect(answer.status_code).toBe(401);
    expect(answer.is_success).toBe(false);
  });

  it('gets 401 when the signature is not the claimed hotkey’s', async () => {
    const answer = await pythonQuery('//Mallory', miner.ss58Address, { roles: ['user'], messages: ['hi'], claim_hotkey: Keypair.fromUri(VALIDATOR_URI).ss58Address });
    expect(answer.status_code).toBe(401);
    expect(answer.status_message).toContain('Not Verified');
  });

  it('gets 403 when the caller is not allowed', async () => {
    const answer = await pythonQuery('//Stranger', miner.ss58Address, { roles: ['user'], messages: ['hi'] });
    expect(answer.status_code).toBe(403);
    expect(answer.status_message).toContain('blacklisted');
  });

  it('gets 400 for a conversation whose roles and messages do not pair up', async () => {
    const answer = await pythonQuery(VALIDATOR_URI, miner.ss58Address, { roles: ['user', 'user'], messages: ['hi'] });
    expect(answer.status_code).toBe(400);
  });
});
