/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { connect, type NatsConnection } from 'nats';
import { initCrypto } from '@chattensor/bittensor';
import { ReadinessRegistry } from '@chattensor/common';
import { generateModel } from '@chattensor/inference';
import {
  Subjects,
  decodeJson,
  encodeJson,
  serveAxonRequestSchema,
  type ServeAxonRequest,
} from '@chattensor/protocol';
import { MinerModule } from '../app.module';
import { loadMinerConfig } from '../config/miner.config';
import { MinerIdentity } from '../identity/miner-identity';
import { MinerAxonServer } from '../axon/miner-axon.server';
import { expectEventually } from '../../../../test/support/expect-eventually';

describe('a miner in chain mode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'miner-serve-axon-'));
  const netuid = 60_000 + Math.floor(Math.random() * 5000);
  let app: INestApplicationContext;
  let nc: NatsConnection;
  const requests: ServeAxonRequest[] = [];

  beforeAll(async () => {
    await initCrypto();
    await generateModel({ outDir: join(dir, 'model'), preset: 'tiny' });
    nc = await connect({ servers: process.env.NATS_URL });
    // Stands in for the chain-indexer's writer: records the request, answers as the writer does when the chain already holds it.
    nc.subscribe(Subjects.extrinsics('serve_axon'), {
      callback: (_error, message) => {
        const decoded = decodeJson(serveAxonRequestSchema, message.data);
        if (decoded.ok && decoded.value.netuid === netuid) {
          requests.push(decoded.value);
          message.respond(encodeJson({ outcome: 'skipped', call: 'serve_axon' }));
        }
      },
    });
    const config = loadMinerConfig({
      NATS_URL: process.env.NATS_URL,
      CHAIN_MODE: 'subtensor',
      NETUID: String(netuid),
      MODEL_DIR: join(dir, 'model'),
      HOTKEY_URI: '//serve-axon/miner',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      AXON_HOST: '127.0.0.1',
      AXON_PORT: '0',
      AXON_EXTERNAL_IP: '203.0.113.7',
      AXON_EXTERNAL_PORT: '8091',
      INTRA_OP_THREADS: '1',
    });
    app = await NestFactory.createApplicationContext(
      MinerModule.forRoot(config, await MinerIdentity.load(config.hotkey)),
      { logger: false, abortOnError: false },
    );
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await nc?.drain();
    rmSync(dir, { recursive: true, force: true });
  });

  it('asks the chain-indexer once to register its public axon', async () => {
    await expectEventually(() => expect(requests).toHaveLength(1), 15_000);
    expect(requests[0]).toMatchObject({
      ip: '203.0.113.7',
      port: 8091,
      protocol: 4,
      hotkey: (
        await MinerIdentity.load({ uri: '//serve-axon/miner', walletName: 'default', hotkeyName: 'default' })
      ).hotkey.ss58Address,
    });
  });

  it('is ready only with its public axon listening', async () => {
    await expectEventually(async () => {
      const report = await app.get(ReadinessRegistry).report();
      expect(report.checks['axon']).toEqual({ ok: true });
    }, 15_000);
    await app.get(MinerAxonServer).beforeApplicationShutdown();
    const report = await app.get(ReadinessRegistry).report();
    expect(report.checks['axon']).toMatchObject({ ok: false });
    expect(report.ready).toBe(false);
  });
});
