import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Server, ServerCredentials, type Metadata, type sendUnaryData, type ServerUnaryCall, type UntypedHandleCall } from '@grpc/grpc-js';
import { AppError, CORRELATION_HEADER, rootLogger, runWithCorrelation, toGrpcError } from '@chattensor/common';
import { indexerV1 } from '@chattensor/protocol';
import { MetagraphQueryService } from './metagraph-query.service';
import { QUERY_CONFIG, type QueryConfig } from './query.config';

/** `chattensor.indexer.v1.IndexerService` over grpc-js. */
@Injectable()
export class IndexerGrpcServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'indexer-grpc' });
  private readonly server = new Server();
  private boundPort = 0;

  constructor(
    private readonly query: MetagraphQueryService,
    @Inject(QUERY_CONFIG) private readonly config: QueryConfig,
  ) {}

  get port(): number {
    return this.boundPort;
  }

  async onApplicationBootstrap(): Promise<void> {
    const implementation: Record<keyof indexerV1.IndexerServiceServer, UntypedHandleCall> = {
      getMetagraph: this.unary((r: indexerV1.GetMetagraphRequest) => this.query.metagraph(r)),
      getNeuron: this.unary((r: indexerV1.GetNeuronRequest) => this.query.neuron(r)),
      getHyperparameters: this.unary((r: indexerV1.GetHyperparametersRequest) => this.query.hyperparameters(r)),
      getDelegate: this.unary((r: indexerV1.GetDelegateRequest) => this.query.delegate(r)),
    };
    this.server.addService(indexerV1.IndexerServiceService, implementation);
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`${this.config.host}:${this.config.port}`, ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );
    this.log.info({ port: this.boundPort }, 'indexer query API listening');
  }

  private unary<Req, Res>(handle: (request: Req) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      runWithCorrelation(correlationOf(call.metadata), () => {
        handle(call.request).then(
          (response) => callback(null, response),
          (error: unknown) => {
            if (!(error instanceof AppError)) this.log.error({ err: (error as Error).message }, 'query failed');
            callback(toGrpcError(error));
          },
        );
      });
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }
}

function correlationOf(metadata: Metadata): string | undefined {
  const value = metadata.get(CORRELATION_HEADER)[0];
  return typeof value === 'string' ? value : undefined;
}
