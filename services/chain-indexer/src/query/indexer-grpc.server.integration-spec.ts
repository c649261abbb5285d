import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { Test, type TestingModule } from '@nestjs/testing';
import { indexerV1, type MetagraphSnapshot } from '@chattensor/protocol';
import { MetagraphPublisher } from '../metagraph/metagraph.publisher';
import { IndexerGrpcServer } from './indexer-grpc.server';
import { MetagraphQueryService } from './metagraph-query.service';
import { QUERY_CONFIG } from './query.config';

const snapshot: MetagraphSnapshot = {
  v: 1,
  netuid: 3,
  mode: 'subtensor',
  block: 42,
  blockHash: '0x42',
  updatedAt: 1,
  neurons: [{ uid: 0, hotkey: '5Validator', stake: 10, validatorPermit: true, active: true, axon: null, incentive: 0.25 }],
  hyperparameters: { tempo: 360, weightsVersionKey: 7 },
};

describe('IndexerGrpcServer over a real gRPC connection', () => {
  let module: TestingModule;
  let client: InstanceType<typeof indexerV1.IndexerServiceClient>;

  beforeAll(async () => {
    module = await Test.createTestingModule({
      providers: [
        IndexerGrpcServer,
        MetagraphQueryService,
        { provide: MetagraphPublisher, useValue: { latest: async (netuid: number) => (netuid === 3 ? snapshot : undefined) } },
        { provide: QUERY_CONFIG, useValue: { host: '127.0.0.1', port: 0, defaultNetuid: 3 } },
      ],
    }).compile();
    await module.init();
    client = new indexerV1.IndexerServiceClient(`127.0.0.1:${module.get(IndexerGrpcServer).port}`, credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await module?.close();
  });

  const call = <Req, Res>(method: (req: Req, md: Metadata, cb: (e: ServiceError | null, r: Res) => void) => unknown, request: Req) =>
    new Promise<Res>((resolve, reject) => method.call(client, request, new Metadata(), (error, response) => (error ? reject(error) : resolve(response))));

  it('answers GetMetagraph and GetNeuron from the latest snapshot', async () => {
    const metagraph = await call<indexerV1.GetMetagraphRequest, indexerV1.GetMetagraphResponse>(client.getMetagraph, {});
    expect(metagraph.snapshot!.block).toBe(42n);
    expect(metagraph.neurons[0]).toMatchObject({ hotkey: '5Validator', incentive: 0.25, validatorPermit: true });
    expect(metagraph.hyperparameters).toMatchObject({ tempo: 360, weightsVersionKey: 7n });
    const neuron = await call<indexerV1.GetNeuronRequest, indexerV1.GetNeuronResponse>(client.getNeuron, { hotkey: '5Validator' });
    expect(neuron.neuron!.uid).toBe(0);
  });

  it('maps a missing neuron to NOT_FOUND and an unknown netuid to UNAVAILABLE', async () => {
    await expect(call(client.getNeuron, { uid: 5 })).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(call(client.getMetagraph, { netuid: 8 })).rejects.toMatchObject({ code: status.UNAVAILABLE });
    await expect(call(client.getDelegate, {})).rejects.toMatchObject({ code: status.NOT_FOUND });
  });
});
