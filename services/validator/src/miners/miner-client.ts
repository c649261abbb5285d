import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Client, Metadata, credentials, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { Dendrite, sha3Hex } from '@chattensor/bittensor';
import { AppError, CORRELATION_HEADER, ErrorCode, appErrorFromGrpc } from '@chattensor/common';
import { authToMetadata, minerV1, type Neuron } from '@chattensor/protocol';
import { generateOverAxon } from './axon-miner.transport';
import { generateOverBtAuth, minerTransportOf } from './btauth-miner.transport';
import { ValidatorIdentity } from '../identity/validator-identity';

const GENERATE_PATH = '/chattensor.miner.v1.MinerService/Generate';

export interface MinerCall {
  responses: AsyncIterable<minerV1.GenerateResponse>;
  cancel(): void;
}

/**
 * Calls miners in the protocol their axon info names (minerTransportOf): the
 * OpenAI chat API behind btauth/1, the SDK-10 axon (legacy), or gRPC with Bittensor
 * dendrite-style authentication: the
 * request is encoded once, its exact bytes are hashed and signed and those
 * same bytes are sent. One channel per miner endpoint, reused across calls.
 */
@Injectable()
export class MinerClient implements OnApplicationShutdown {
  private readonly clients = new Map<string, Client>();

  private readonly dendrite: Dendrite;

  constructor(private readonly identity: ValidatorIdentity) {
    this.dendrite = new Dendrite(identity.hotkey);
  }

  generate(
    miner: Neuron,
    request: minerV1.GenerateRequest,
    options: { timeoutMs: number; correlationId?: string },
  ): MinerCall {
    if (!miner.axon) throw new AppError(ErrorCode.Unavailable, `miner ${miner.uid} serves no endpoint`);
    const transport = minerTransportOf(miner.axon);
    if (transport === 'btauth') return generateOverBtAuth(this.identity.hotkey, miner, request, options);
    if (transport === 'axon') return generateOverAxon(this.dendrite, miner, request, options.timeoutMs);
    const client = this.clientFor(`${miner.axon.ip}:${miner.axon.port}`);
    const bytes = Buffer.from(minerV1.GenerateRequest.encode(request).finish());
    // Overlapping calls to one miner each get their own dendrite uuid (a lane), so
    // a call that arrives before an earlier-signed one is not taken for a replay.
    const lane = this.identity.signer.acquireLane(miner.hotkey);
    const auth = lane.sign(sha3Hex(bytes));
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(authToMetadata(auth, Math.ceil(options.timeoutMs / 1000))))
      metadata.set(key, value);
    if (options.correlationId) metadata.set(CORRELATION_HEADER, options.correlationId);
    const stream: ClientReadableStream<minerV1.GenerateResponse> = client.makeServerStreamRequest(
      GENERATE_PATH,
      (payload: Buffer) => payload,
      (data: Buffer) => minerV1.GenerateResponse.decode(data),
      bytes,
      metadata,
      { deadline: Date.now() + options.timeoutMs },
    );
    stream.once('status', () => lane.release());
    stream.once('error', () => lane.release());
    return {
      responses: translateErrors(stream),
      cancel: () => stream.cancel(),
    };
  }

  private clientFor(address: string): Client {
    let client = this.clients.get(address);
    if (!client) {
      client = new Client(address, credentials.createInsecure(), {
        // A miner endpoint may be a Service in front of many pods: spread calls over all of them.
        'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
        'grpc.keepalive_time_ms': 30_000,
        // A miner that restarts is reachable again within a second (grpc-js backs off up to 120 s by default,
        // failing every call at once meanwhile).
        'grpc.initial_reconnect_backoff_ms': 250,
        'grpc.max_reconnect_backoff_ms': 1000,
        'grpc.max_receive_message_length': 4 * 1024 * 1024,
      });
      this.clients.set(address, client);
    }
    return client;
  }

  onApplicationShutdown(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

async function* translateErrors(
  stream: ClientReadableStream<minerV1.GenerateResponse>,
): AsyncGenerator<minerV1.GenerateResponse> {
  try {
    for await (const response of stream as AsyncIterable<minerV1.GenerateResponse>) yield response;
  } catch (error) {
    throw appErrorFromGrpc(error as ServiceError);
  }
}
