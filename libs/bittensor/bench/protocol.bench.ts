/**
 * What the Bittensor wire costs a miner and a validator: signing and
 * verification, the body hash of a chat request, weight conversion at subnet
 * sizes, and a full streamed StreamPrompting round trip over loopback (axon +
 * dendrite, no model). Run: `npm run build && node dist/libs/bittensor/bench/protocol.bench.js`.
 */
import { performance } from 'node:perf_hooks';
import {
  Axon,
  CRYPTO_ED25519,
  Dendrite,
  InMemoryNonceStore,
  Keypair,
  conformWeights,
  signBtAuth,
  verifyBtAuth,
  StreamPrompting,
  initCrypto,
  scoresToU16Weights,
  startAxonHttpServer,
  synapseBodyHash,
  verifySignature,
} from '../src/index';

function rate(label: string, iterations: number, fn: (i: number) => void): void {
  for (let i = 0; i < Math.min(50, iterations); i++) fn(i);
  const started = performance.now();
  for (let i = 0; i < iterations; i++) fn(i);
  const ms = performance.now() - started;
  console.log(`${label.padEnd(44)} ${(iterations / (ms / 1000)).toFixed(0).padStart(9)} /s   ${((ms * 1000) / iterations).toFixed(1).padStart(9)} µs each`);
}

async function main(): Promise<void> {
  await initCrypto();
  const key = Keypair.fromUri('//BenchValidator');
  const message = `1764000000000000000.${key.ss58Address}.${key.ss58Address}.0b7f3c2e-8a51-4c1e-9d7a-3f9e2b6c4d10.${'a'.repeat(64)}`;
  const signature = key.sign(message);
  rate('sr25519 sign (dendrite message)', 2000, () => key.sign(message));
  rate('sr25519 verify (dendrite message)', 2000, () => verifySignature(message, signature, key.ss58Address));

  // btauth/1: sign and full verify (headers, window, signature, replay store) of a ~1.8 kB chat body.
  const receiver = Keypair.fromUri('//BenchMiner').ss58Address;
  const body = Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(1800) }] }));
  const path = '/v1/chat/completions';
  for (const signer of [key, Keypair.fromUri('//BenchValidator', CRYPTO_ED25519)]) {
    rate(`btauth/1 sign (${signer.scheme})`, 2000, () => signBtAuth(signer, { method: 'POST', path, body, receiver }));
    const signed = Array.from({ length: 2050 }, () => signBtAuth(signer, { method: 'POST', path, body, receiver }));
    const store = new InMemoryNonceStore();
    const verdicts: Promise<unknown>[] = [];
    rate(`btauth/1 verify (${signer.scheme})`, 2000, () => {
      // Each request once: the warm-up takes the first 50, the timed run the rest.
      verdicts.push(verifyBtAuth(signed[verdicts.length], body, { method: 'POST', path, selfHotkey: receiver, nonceStore: store }));
    });
    await Promise.all(verdicts);
  }

  const conversation = {
    roles: ['system', 'user', 'assistant', 'user'],
    messages: ['You are a helpful assistant.', 'Explain "proof of stake" in 200 words, it\'s for a newsletter.', 'x'.repeat(1500), 'Shorter, please — ünï 🚀'],
  };
  rate('body hash, 4-message chat (~1.8 kB)', 5000, () => synapseBodyHash(StreamPrompting.requiredHashFields, conversation));

  for (const n of [256, 4096]) {
    const weights = Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000);
    const uids = weights.map((_, i) => i);
    rate(`scores → u16 weights (SDK 10), n=${n}`, n > 1000 ? 200 : 2000, () => scoresToU16Weights({ uids, weights, numNeurons: n, minAllowedWeights: 8, maxWeightLimit: 455 / 65535, excludeQuantile: 6553 }));
    rate(`scores → u16 weights (SDK 11), n=${n}`, n > 1000 ? 200 : 2000, () => conformWeights({ uids, weights, maxWeightLimitU16: 455, minAllowedWeights: 8 }));
  }

  const miner = Keypair.fromUri('//BenchMiner');
  const chunks = Array.from({ length: 32 }, (_, i) => `tok${i} `);
  const axon = new Axon({ keypair: miner });
  axon.attachStream(StreamPrompting, {
    forward: async function* () {
      yield* chunks;
    },
  });
  const server = await startAxonHttpServer(axon, { host: '127.0.0.1', port: 0 });
  const target = { ip: '127.0.0.1', port: server.port, hotkey: miner.ss58Address };
  const dendrite = new Dendrite(key);
  const once = async () => {
    const result = await dendrite.stream(target, StreamPrompting, conversation).collect();
    if (result.statusCode !== 200) throw new Error(`status ${result.statusCode}`);
  };
  for (let i = 0; i < 20; i++) await once();
  for (const concurrency of [1, 16]) {
    const total = 400;
    const latencies: number[] = [];
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next++;
          const t = performance.now();
          await once();
          latencies.push(performance.now() - t);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(2);
    console.log(`StreamPrompting round trip, 32 chunks, c=${String(concurrency).padEnd(2)}   ${(total / seconds).toFixed(0).padStart(9)} req/s   p50 ${p(0.5)} ms  p99 ${p(0.99)} ms`);
  }
  await server.close(100);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
