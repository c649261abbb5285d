import { Test } from '@nestjs/testing';
import { ErrorCode } from '@chattensor/common';
import { MetagraphWatcher, type Neuron } from '@chattensor/protocol';
import { MINER_CONFIG, type MinerConfig } from '../config/miner.config';
import { CallerPolicy } from './caller-policy.service';

const neuron = (hotkey: string, stake: number, validatorPermit = true): Neuron => ({
  uid: 0,
  hotkey,
  stake,
  validatorPermit,
  active: true,
  axon: null,
});

const neurons = [neuron('5Large', 1200.5), neuron('5Small', 40), neuron('5NoPermit', 900, false)];

async function policyFor(
  chainMode: MinerConfig['chainMode'],
  auth: MinerConfig['auth'],
): Promise<CallerPolicy> {
  const metagraph = { neuronByHotkey: (hotkey: string) => neurons.find((n) => n.hotkey === hotkey) };
  const module = await Test.createTestingModule({
    providers: [
      CallerPolicy,
      { provide: MINER_CONFIG, useValue: { chainMode, auth } },
      { provide: MetagraphWatcher, useValue: metagraph },
    ],
  }).compile();
  return module.get(CallerPolicy);
}

describe('CallerPolicy', () => {
  it('gives a permitted validator its stake as priority, so more stake is served first', async () => {
    const policy = await policyFor('subtensor', { allowedHotkeys: [], minValidatorStake: 0 });
    expect(policy.admit('5Large')).toBe(1200.5);
    expect(policy.admit('5Small')).toBe(40);
  });

  it('refuses a caller without a permit, unregistered or below the minimum stake', async () => {
    const policy = await policyFor('subtensor', { allowedHotkeys: [], minValidatorStake: 100 });
    expect(() => policy.admit('5NoPermit')).toThrow(
      expect.objectContaining({ code: ErrorCode.PermissionDenied }),
    );
    expect(() => policy.admit('5Stranger')).toThrow(
      expect.objectContaining({ code: ErrorCode.PermissionDenied }),
    );
    expect(() => policy.admit('5Small')).toThrow(
      expect.objectContaining({ code: ErrorCode.PermissionDenied }),
    );
  });

  it('gives every caller of a standalone allow-list the same priority, whatever its stake', async () => {
    const policy = await policyFor('local', {
      allowedHotkeys: ['5Large', '5Small', '5Unlisted'],
      minValidatorStake: 0,
    });
    expect([policy.admit('5Large'), policy.admit('5Small'), policy.admit('5Unlisted')]).toEqual([0, 0, 0]);
    expect(() => policy.admit('5NoPermit')).toThrow(
      expect.objectContaining({ code: ErrorCode.PermissionDenied }),
    );
  });

  it('uses the stake of the local metagraph when the standalone allow-list is empty', async () => {
    const policy = await policyFor('local', { allowedHotkeys: [], minValidatorStake: 0 });
    expect(policy.admit('5Large')).toBe(1200.5);
  });
});
