import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import {
  Client,
  Metadata,
  connectivityState,
  credentials,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { Dendrite, sha3Hex } from '@chattensor/bittensor';
import { AppError, CORRELATION_HEADER, ErrorCode, appErrorFromGrpc } from '@chattensor/common';
import { authToMetadata, minerV1, type Neuron } from '@chattensor/protocol';
import { generateOverAxon } from './axon-miner.transport';
import { generateOverBtAuth, minerTransportOf } from './btauth-miner.transport';
import { ValidatorIdentity } from '../identity/validator-identity';

const GENERATE_PATH = '/chattensor.miner.v1.MinerService/Generate';
/** The longest a channel waits between reconnect attempts to a miner. */
const MAX_RECONNECT_BACKOFF_MS = 1000;
/** How long a call on a channel in reconnect backoff waits for it to connect: one attempt and its jitter. */
const RECONNECT_WAIT_MS = 1500;

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
    const deadline = Date.now() + options.timeoutMs;
    const start = (): ClientReadableStream<minerV1.GenerateResponse> => {
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
        { deadline },
      );
      stream.once('status', () => lane.release());
      stream.once('error', () => lane.release());
      return stream;
    };
    // A channel whose connection failed fails every call at once until its next reconnect attempt
    // (at most MAX_RECONNECT_BACKOFF_MS away), even when the miner is back: such a call first waits
    // for that attempt, so a restarted miner is not written off (and left out of failover) for an
    // answer it could serve. Otherwise the call starts at once.
    let stream =
      client.getChannel().getConnectivityState(false) === connectivityState.TRANSIENT_FAILURE ? undefined : start();
    const cancelled = new AbortController();
    const responses = async function* (): AsyncGenerator<minerV1.GenerateResponse> {
      if (!stream) {
        await connected(client, miner, Math.min(deadline, Date.now() + RECONNECT_WAIT_MS), cancelled.signal);
        if (cancelled.signal.aborted) throw new AppError(ErrorCode.Cancelled, 'cancelled');
        stream = start();
      }
      yield* translateErrors(stream);
    };
    return {
      responses: responses(),
      cancel: () => {
        cancelled.abort();
        stream?.cancel();
      },
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
        'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS,
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

/**
 * Resolves once `client`'s channel is connected; rejects with Unavailable at
 * `until` (the miner is still unreachable) or with Cancelled on `signal`.
 */
function connected(client: Client, miner: Neuron, until: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new AppError(ErrorCode.Cancelled, 'cancelled'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    client.waitForReady(until, (error) => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) return;
      if (error) reject(new AppError(ErrorCode.Unavailable, `miner ${miner.uid} is unreachable: ${error.message}`));
      else resolve();
    });
  });
}
