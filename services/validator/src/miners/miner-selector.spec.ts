import { Test } from '@nestjs/testing';
import { Keypair, initCrypto } from '@chattensor/bittensor';
import { MetagraphWatcher, type MetagraphSnapshot, type Neuron } from '@chattensor/protocol';
import { ValidatorIdentity } from '../identity/validator-identity';
import { ScoreBook } from '../scores/score-book.service';
import { ExclusionList } from '../verification/exclusion-list.service';
import { MinerSelector } from './miner-selector';
import { MinerHealth } from './miner-health';

const neuron = (uid: number, extra: Partial<Neuron> = {}): Neuron => ({
  uid,
  hotkey: `hk${uid}`,
  stake: 0,
  validatorPermit: false,
  active: true,
  axon: { ip: '10.0.0.1', port: 5000 + uid, protocol: 0, version: 0 },
  role: 'miner',
  ...extra,
});

describe('MinerSelector', () => {
  let selector: MinerSelector;
  let snapshot: MetagraphSnapshot;
  let scores: Map<number, number>;
  let self: string;
  let excluded: Set<number>;

  beforeAll(async () => {
    await initCrypto();
  });

  beforeEach(async () => {
    const identity = await ValidatorIdentity.load({ uri: '//selector/validator', walletName: 'default', hotkeyName: 'default' });
    self = identity.hotkey.ss58Address;
    scores = new Map();
    excluded = new Set();
    snapshot = { v: 1, netuid: 1, mode: 'local', block: 1, updatedAt: 0, hyperparameters: {}, neurons: [] };
    const module = await Test.createTestingModule({
      providers: [
        MinerSelector,
        MinerHealth,
        { provide: MetagraphWatcher, useValue: { current: () => snapshot } },
        {
          provide: ScoreBook,
          useValue: {
            scoresOf: async (miners: { uid: number; hotkey: string }[]) => miners.map((m) => ({ ...m, score: scores.get(m.uid) ?? 0 })),
          },
        },
        { provide: ValidatorIdentity, useValue: identity },
        {
          provide: ExclusionList,
          useValue: { filter: async <T extends { uid: number }>(miners: T[]) => miners.filter((m) => !excluded.has(m.uid)) },
        },
      ],
    }).compile();
    selector = module.get(MinerSelector);
  });

  it('offers only serving miners: not validators, not itself, not inactive, not without an endpoint', () => {
    snapshot.neurons = [
      neuron(0),
      neuron(1, { role: 'validator', validatorPermit: true }),
      neuron(2, { hotkey: self }),
      neuron(3, { active: false }),
      neuron(4, { axon: null }),
      neuron(5, { axon: { ip: '0.0.0.0', port: 0, protocol: 0, version: 0 } }),
    ];
    expect(selector.candidates().map((n) => n.uid)).toEqual([0]);
  });

  it('keeps to the requested model when miners announce theirs, and takes any for the wildcard', () => {
    snapshot.neurons = [neuron(0, { model: 'a' }), neuron(1, { model: 'b' }), neuron(2)];
    expect(selector.candidates('a').map((n) => n.uid)).toEqual([0, 2]);
    expect(selector.candidates('*').map((n) => n.uid)).toEqual([0, 1, 2]);
  });

  it('picks distinct miners, never more than exist', async () => {
    snapshot.neurons = [neuron(0), neuron(1), neuron(2)];
    const picked = await selector.select(5);
    expect(picked.map((p) => p.neuron.uid).sort()).toEqual([0, 1, 2]);
  });

  it('prefers well-scored miners but still explores the others', async () => {
    snapshot.neurons = [neuron(0), neuron(1)];
    scores.set(0, 0.9);
    let firstIsZero = 0;
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let i = 0; i < 1000; i++) if ((await selector.select(1, undefined, random))[0].neuron.uid === 0) firstIsZero++;
    // Expected share: (0.9 + 0.1) / (0.9 + 0.1 + 0 + 0.1) ≈ 0.91.
    expect(firstIsZero).toBeGreaterThan(850);
    expect(firstIsZero).toBeLessThan(970);
  });

  it('keeps miners excluded after a failed verification away from user traffic', async () => {
    snapshot.neurons = [neuron(0), neuron(1), neuron(2)];
    excluded.add(1);
    const picked = await selector.select(3);
    expect(picked.map((p) => p.neuron.uid).sort()).toEqual([0, 2]);
  });

  it('returns nobody when there is no metagraph yet', async () => {
    snapshot = undefined as unknown as MetagraphSnapshot;
    expect(await selector.select(2)).toEqual([]);
  });

  it('ignores its own hotkey even when registered as a miner', () => {
    snapshot.neurons = [neuron(0, { hotkey: Keypair.fromUri('//selector/validator').ss58Address })];
    expect(selector.candidates()).toEqual([]);
  });
});
