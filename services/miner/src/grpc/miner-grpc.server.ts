import { once } from 'node:events';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  Server,
  ServerCredentials,
  type Metadata,
  type ServerWritableStream,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { AxonVerifier, AuthError, sha3Hex } from '@chattensor/bittensor';
import {
  AppError,
  CORRELATION_HEADER,
  ErrorCode,
  rootLogger,
  runWithCorrelation,
  toGrpcError,
  counter,
} from '@chattensor/common';
import { authFromMetadata, minerV1 } from '@chattensor/protocol';
import { MINER_CONFIG, type MinerConfig } from '../config/miner.config';
import { MinerIdentity } from '../identity/miner-identity';
import { GenerationService } from '../generation/generation.service';
import { CallerPolicy } from './caller-policy.service';
import { toEngineInput } from './generate-request.util';

/** The request as received: its exact bytes (the signature covers their hash) and their decoding. */
interface ReceivedRequest {
  bytes: Buffer;
  request?: minerV1.GenerateRequest;
  decodeError?: string;
}

const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * `chattensor.miner.v1.MinerService/Generate` over grpc-js. Verifies the
 * Bittensor-style signature over the received bytes, the nonce and the
 * caller's permit before any work; streams tokens with backpressure; stops
 * generating when the caller cancels or goes away.
 */
@Injectable()
export class MinerGrpcServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'miner-grpc' });
  private readonly server = new Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.keepalive_time_ms': 30_000,
    // Connections are recycled so validators re-resolve and reach newly scaled miner pods.
    'grpc.max_connection_age_ms': 5 * 60_000,
    'grpc.max_connection_age_grace_ms': 2 * 60_000,
  });
  private readonly verifier: AxonVerifier;
  private boundPort = 0;
  private readonly calls = counter({
    name: 'chattensor_miner_grpc_calls_total',
    help: 'Generate calls by gRPC status',
    labelNames: ['code'],
  });
  private readonly inFlight = new Set<AbortController>();

  constructor(
    @Inject(MINER_CONFIG) private readonly config: MinerConfig,
    private readonly identity: MinerIdentity,
    private readonly generation: GenerationService,
    private readonly policy: CallerPolicy,
  ) {
    this.verifier = new AxonVerifier(identity.hotkey.ss58Address);
  }

  get port(): number {
    return this.boundPort;
  }

  async onApplicationBootstrap(): Promise<void> {
    const base = minerV1.MinerServiceService.generate;
    const definition: ServiceDefinition = {
      generate: {
        ...base,
        requestDeserialize: (bytes: Buffer): ReceivedRequest => {
          try {
            return { bytes, request: minerV1.GenerateRequest.decode(bytes) };
          } catch (error) {
            return { bytes, decodeError: (error as Error).message };
          }
        },
      },
    };
    this.server.addService(definition, {
      generate: (call: ServerWritableStream<ReceivedRequest, minerV1.GenerateResponse>) => {
        void this.generate(call);
      },
    });
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(
        `${this.config.grpc.host}:${this.config.grpc.port}`,
        ServerCredentials.createInsecure(),
        (error, port) => (error ? reject(error) : resolve(port)),
      ),
    );
    this.log.info(
      { port: this.boundPort, hotkey: this.identity.hotkey.ss58Address },
      'gRPC MinerService listening',
    );
  }

  private async generate(
    call: ServerWritableStream<ReceivedRequest, minerV1.GenerateResponse>,
  ): Promise<void> {
    const correlationId = firstValue(call.metadata, CORRELATION_HEADER);
    await runWithCorrelation(correlationId, async () => {
      const abort = new AbortController();
      this.inFlight.add(abort);
      const onCancel = () => abort.abort();
      call.on('cancelled', onCancel);
      const timer = setTimeout(() => abort.abort(), this.config.requestTimeoutMs);
      try {
        const { messages, sampling, priority } = this.admit(call);
        for await (const chunk of this.generation.generate(messages, sampling, abort.signal, priority)) {
          if (abort.signal.aborted) break;
          const response: minerV1.GenerateResponse = {
            textDelta: chunk.text,
            tokenCount: chunk.tokenIds.length,
            tokenIds: chunk.tokenIds,
            finishReason: chunk.finishReason ?? '',
            usage: chunk.usage,
            model: this.generation.modelName,
          };
          if (!call.write(response)) await Promise.race([once(call, 'drain'), once(abort.signal, 'abort')]);
        }
        if (abort.signal.aborted && !call.cancelled)
          throw new AppError(ErrorCode.Timeout, 'generation exceeded the request timeout');
        if (!call.cancelled) call.end();
        this.calls.inc({ code: call.cancelled ? 'CANCELLED' : 'OK' });
      } catch (error) {
        const grpcError = toGrpcError(error);
        if (!(error instanceof AppError)) this.log.error({ err: error }, 'generation failed');
        else if (error.code !== ErrorCode.Cancelled)
          this.log.info({ code: error.code, reason: error.message }, 'generate call refused');
        this.calls.inc({ code: String(grpcError.code) });
        // grpc-js turns an 'error' event into the call's status (destroy() would drop it).
        if (!call.cancelled) call.emit('error', Object.assign(new Error(grpcError.details), grpcError));
      } finally {
        clearTimeout(timer);
        call.off('cancelled', onCancel);
        this.inFlight.delete(abort);
      }
    });
  }

  /**
   * Authentication, then permission, then validation: nothing is generated for a caller that fails any.
   * The caller's priority (its stake) ranks the request while it waits for a batch slot.
   */
  private admit(call: ServerWritableStream<ReceivedRequest, minerV1.GenerateResponse>) {
    const received = call.request;
    const { auth } = authFromMetadata((key) => firstValue(call.metadata, key));
    try {
      // The hash is of the exact bytes received: the whole GenerateRequest, every field.
      this.verifier.verify(auth, sha3Hex(received.bytes));
    } catch (error) {
      if (error instanceof AuthError) throw new AppError(ErrorCode.Unauthenticated, error.message);
      throw error;
    }
    const priority = this.policy.admit(auth.dendriteHotkey!);
    if (!received.request)
      throw new AppError(ErrorCode.InvalidRequest, `request could not be decoded: ${received.decodeError}`);
    return { ...toEngineInput(received.request, 32_768), priority };
  }

  async onApplicationShutdown(): Promise<void> {
    // Stop accepting calls, give running generations a moment, then cut them.
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        for (const abort of this.inFlight) abort.abort();
        this.server.forceShutdown();
        resolve();
      }, 10_000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}

function firstValue(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return value === undefined ? undefined : value.toString();
}
