import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ApiPromise, WsProvider } from '@polkadot/api';
import { decodeAddress, sr25519Verify } from '@polkadot/util-crypto';
import { hexToU8a } from '@polkadot/util';
import { connect, type NatsConnection, type Subscription } from 'nats';
import {
  initCrypto,
  ipToInt,
  Keypair,
  signServeAxonRequest,
  type ServeAxonArgs,
} from '@chattensor/bittensor';
import {
  Subjects,
  decodeJson,
  encodeJson,
  signingRequestSchema,
  type SigningRequest,
} from '@chattensor/protocol';
import { ReplayServer } from '../../../../test/chain/rpc-recording';
import { FIXTURE_FILE } from '../../../../test/chain/scenario-fixture';
import { SUBTENSOR_SIGNED_EXTENSIONS } from './chain-connection';
import { OwnerSigner, signingBytes } from './owner-signer';

const fixture = join(__dirname, '../../../..', FIXTURE_FILE);

/**
 * A miner's serve_axon signed by the miner: the indexer's OwnerSigner asks on
 * real NATS, the answer comes from the function the miner's responder uses,
 * and the extrinsic is built and encoded by @polkadot/api with the spec-293
 * runtime's own metadata (served from the recorded fixture).
 */
(existsSync(fixture) ? describe : describe.skip)('OwnerSigner (spec-293 metadata, real NATS)', () => {
  let replay: ReplayServer;
  let api: ApiPromise;
  let nc: NatsConnection;
  let miner: Keypair;
  let responder: Subscription | undefined;
  const requests: SigningRequest[] = [];
  const axon: ServeAxonArgs = { netuid: 2, version: 0, ip: '203.0.113.7', port: 8091, protocol: 4 };

  beforeAll(async () => {
    await initCrypto();
    miner = Keypair.fromUri(`//owner-signing/miner/${Date.now()}`);
    replay = ReplayServer.fromFile(fixture, 20);
    api = await ApiPromise.create({
      provider: new WsProvider(await replay.start()),
      noInitWarn: true,
      signedExtensions: SUBTENSOR_SIGNED_EXTENSIONS,
    });
    nc = await connect({ servers: process.env.NATS_URL });
  });

  afterAll(async () => {
    responder?.unsubscribe();
    await nc?.drain();
    await api?.disconnect();
    await replay?.stop();
  });

  /** Answers signing requests for the miner's hotkey as the miner does, signing with `key`. */
  async function answerAs(key: Keypair, expected: ServeAxonArgs): Promise<void> {
    responder?.unsubscribe();
    responder = nc.subscribe(Subjects.signer(miner.ss58Address), {
      callback: (_error, message) => {
        const decoded = decodeJson(signingRequestSchema, message.data);
        if (!decoded.ok) return message.respond(encodeJson({ error: decoded.error }));
        requests.push(decoded.value);
        try {
          const request = { ...decoded.value, hotkey: key.ss58Address };
          message.respond(encodeJson({ signature: signServeAxonRequest(key, request, expected) }));
        } catch (error) {
          message.respond(encodeJson({ error: (error as Error).message }));
        }
      },
    });
    await nc.flush();
  }

  const serveAxon = (args: ServeAxonArgs) => {
    const { ip, ipType } = ipToInt(args.ip);
    return api.tx.subtensorModule.serveAxon(
      args.netuid,
      args.version,
      ip,
      args.port,
      ipType,
      args.protocol,
      0,
      0,
    );
  };
  const signer = () => new OwnerSigner(api, nc, 'serve_axon', miner.ss58Address, 5000);

  it('gets the extrinsic signed by the miner: a signature the runtime accepts for exactly that call', async () => {
    await answerAs(miner, axon);
    const tx = serveAxon(axon);
    await tx.signAsync(miner.ss58Address, { signer: signer(), nonce: 7, era: 0 });
    expect(tx.isSigned).toBe(true);
    expect(tx.signer.toString()).toBe(miner.ss58Address);
    expect(tx.nonce.toNumber()).toBe(7);
    const request = requests.at(-1)!;
    expect(request).toMatchObject({
      call: 'serve_axon',
      hotkey: miner.ss58Address,
      nonce: 7,
      mortalPeriod: 0,
      tip: '0',
      hashed: false,
      specVersion: 293,
    });
    expect(request.method).toBe(tx.method.toHex());
    // What the runtime checks: the signature over the payload of the decoded extrinsic, by the hotkey.
    const decoded = api.registry.createType('Extrinsic', tx.toHex());
    const payload = {
      address: miner.ss58Address,
      method: decoded.method.toHex(),
      era: '0x00',
      nonce: '0x00000007',
      tip: '0x00000000000000000000000000000000',
      genesisHash: api.genesisHash.toHex(),
      blockHash: api.genesisHash.toHex(),
      specVersion: api.runtimeVersion.specVersion.toHex(),
      transactionVersion: api.runtimeVersion.transactionVersion.toHex(),
      signedExtensions: api.registry.signedExtensions,
      // The version byte of a signed extrinsic carries the signed bit (0x80).
      version: decoded.version & 0x7f,
    };
    const { bytes } = signingBytes(api, payload as never);
    expect(sr25519Verify(bytes, hexToU8a(decoded.signature.toHex()), decodeAddress(miner.ss58Address))).toBe(
      true,
    );
    expect(decoded.method.args.map((a) => a.toString())).toEqual([
      '2',
      '0',
      String(ipToInt(axon.ip).ip),
      '8091',
      '4',
      '4',
      '0',
      '0',
    ]);
  });

  it('is refused by the miner when the call is not its own axon', async () => {
    await answerAs(miner, axon);
    await expect(
      serveAxon({ ...axon, port: 9999 }).signAsync(miner.ss58Address, { signer: signer(), nonce: 0, era: 0 }),
    ).rejects.toThrow(/refused to sign: the call to sign is not serve_axon with the requested axon/);
  });

  it('refuses an answer signed by another key, and says when nobody signs for the hotkey', async () => {
    await answerAs(Keypair.fromUri('//owner-signing/impostor'), axon);
    await expect(
      serveAxon(axon).signAsync(miner.ss58Address, { signer: signer(), nonce: 0, era: 0 }),
    ).rejects.toThrow(/does not verify against its hotkey/);
    responder?.unsubscribe();
    responder = undefined;
    await nc.flush();
    await expect(
      serveAxon(axon).signAsync(miner.ss58Address, { signer: signer(), nonce: 0, era: 0 }),
    ).rejects.toThrow(/nobody signs for .* the hotkey's owner \(its miner\) must be running/);
  });
});
