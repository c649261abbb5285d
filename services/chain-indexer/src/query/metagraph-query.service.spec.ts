import { Test } from '@nestjs/testing';
import { AppError, ErrorCode } from '@chattensor/common';
import type { MetagraphSnapshot } from '@chattensor/protocol';
import { MetagraphPublisher } from '../metagraph/metagraph.publisher';
import { MetagraphQueryService } from './metagraph-query.service';
import { QUERY_CONFIG } from './query.config';

const snapshot: MetagraphSnapshot = {
  v: 1,
  netuid: 2,
  mode: 'subtensor',
  block: 120,
  blockHash: '0xabc',
  updatedAt: 1_700_000_000_000,
  neurons: [
    { uid: 0, hotkey: '5Validator', coldkey: '5Cold', stake: 500, alphaStake: 500, validatorPermit: true, active: true, axon: null, dividends: 1, lastUpdate: 100 },
    { uid: 1, hotkey: '5Miner', stake: 0, validatorPermit: false, active: true, axon: { ip: '10.0.0.1', port: 8091, ipType: 4, protocol: 4, version: 1 }, incentive: 1 },
  ],
  hyperparameters: { tempo: 10, weightsRateLimit: 30, commitRevealEnabled: false },
  delegate: { hotkey: '5Validator', take: 0.18, totalStake: 500, nominators: [{ coldkey: '5Cold', stake: 500 }], registrations: [2], validatorPermits: [2] },
};

describe('MetagraphQueryService', () => {
  let service: MetagraphQueryService;

  beforeEach(async () => {
    const publisher = { latest: async (netuid: number) => (netuid === 2 ? snapshot : undefined) };
    const module = await Test.createTestingModule({
      providers: [MetagraphQueryService, { provide: MetagraphPublisher, useValue: publisher }, { provide: QUERY_CONFIG, useValue: { host: '127.0.0.1', port: 0, defaultNetuid: 2 } }],
    }).compile();
    service = module.get(MetagraphQueryService);
  });

  it('answers the whole metagraph of the default netuid with its block', async () => {
    const answer = await service.metagraph({});
    expect(answer.snapshot).toEqual({ netuid: 2, mode: 'subtensor', block: 120n, blockHash: '0xabc', updatedAtMs: 1_700_000_000_000n });
    expect(answer.neurons.map((n) => n.hotkey)).toEqual(['5Validator', '5Miner']);
    expect(answer.neurons[1].axon).toEqual({ ip: '10.0.0.1', port: 8091, ipType: 4, protocol: 4, version: 1 });
    expect(answer.neurons[0].lastUpdate).toBe(100n);
    expect(answer.hyperparameters).toMatchObject({ tempo: 10, weightsRateLimit: 30n, commitRevealEnabled: false });
  });

  it('finds a neuron by hotkey or by uid, and says which one is missing', async () => {
    expect((await service.neuron({ hotkey: '5Miner' })).neuron!.uid).toBe(1);
    expect((await service.neuron({ uid: 0 })).neuron!.hotkey).toBe('5Validator');
    await expect(service.neuron({ uid: 7 })).rejects.toMatchObject({ code: ErrorCode.NotFound, message: expect.stringContaining('uid 7') });
    await expect(service.neuron({})).rejects.toMatchObject({ code: ErrorCode.InvalidRequest });
  });

  it('answers the delegation and hyperparameters', async () => {
    expect((await service.delegate({})).delegate).toMatchObject({ take: 0.18, nominators: [{ coldkey: '5Cold', stake: 500 }], validatorPermits: [2] });
    expect((await service.hyperparameters({ netuid: 2 })).hyperparameters!.tempo).toBe(10);
  });

  it('is unavailable for a netuid it has no snapshot of', async () => {
    const error = await service.metagraph({ netuid: 9 }).catch((e: unknown) => e);
    expect(AppError.is(error, ErrorCode.Unavailable)).toBe(true);
  });
});
