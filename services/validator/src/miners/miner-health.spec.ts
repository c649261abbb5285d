import { ErrorCode } from '@chattensor/common';
import type { Neuron } from '@chattensor/protocol';
import { createServer, type AddressInfo } from 'node:net';
import { MinerHealth, tcpProbe } from './miner-health';

const miner = (uid: number, port = 5000 + uid, ip = '10.0.0.1'): Neuron => ({
  uid,
  hotkey: `hk${uid}`,
  stake: 0,
  validatorPermit: false,
  active: true,
  axon: { ip, port, protocol: 0, version: 0 },
  role: 'miner',
});

describe('MinerHealth', () => {
  it('takes a miner whose calls fail out of selection for a cool-down that doubles, and back after a success', () => {
    const health = new MinerHealth();
    const changes: number[] = [];
    health.onChange(() => changes.push(Date.now()));
    const now = 1_000_000;
    expect(health.failed(miner(1), ErrorCode.Unavailable, now)).toBe(true);
    expect(health.usable(miner(1), now + 999)).toBe(false);
    expect(health.usable(miner(1), now + 1000)).toBe(true);
    expect(health.unreachable(miner(1))).toBe(true);
    health.failed(miner(1), ErrorCode.Timeout, now + 1000);
    expect(health.usable(miner(1), now + 2999)).toBe(false);
    expect(health.usable(miner(1), now + 3000)).toBe(true);
    health.succeeded(miner(1));
    expect(health.unreachable(miner(1))).toBe(false);
    expect(health.usable(miner(1), now)).toBe(true);
    // Once when it went down, once when it came back.
    expect(changes).toHaveLength(2);
  });

  it('does not count what is not the miner being gone: a busy miner, a bad request, a cancelled call', () => {
    const health = new MinerHealth();
    for (const code of [
      ErrorCode.Overloaded,
      ErrorCode.InvalidRequest,
      ErrorCode.Cancelled,
      ErrorCode.PermissionDenied,
    ])
      expect(health.failed(miner(2), code)).toBe(false);
    expect(health.unreachable(miner(2))).toBe(false);
  });

  it('probes a miner once its cool-down is over: back when something answers there, a longer cool-down when not', async () => {
    const health = new MinerHealth();
    let alive = false;
    const probed: number[] = [];
    health.probe = async (m) => {
      probed.push(m.uid);
      return alive;
    };
    const now = 1_000_000;
    health.failed(miner(5), ErrorCode.Unavailable, now);
    await health.probeDue(now + 500);
    expect(probed).toEqual([]);
    await health.probeDue(now + 1000);
    expect(probed).toEqual([5]);
    expect(health.unreachable(miner(5))).toBe(true);
    alive = true;
    await health.probeDue(Date.now() + 60_000);
    expect(health.unreachable(miner(5))).toBe(false);
  });

  it('finds a real endpoint with the TCP probe, and none where nothing listens', async () => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      expect(await tcpProbe(miner(6, port, '127.0.0.1'))).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await tcpProbe(miner(6, port, '127.0.0.1'))).toBe(false);
  });

  it('treats a miner back on a new endpoint as new, and forgets miners that left the metagraph', () => {
    const health = new MinerHealth();
    health.failed(miner(3), ErrorCode.Unavailable);
    expect(health.unreachable(miner(3, 7000))).toBe(false);
    health.retain([miner(4)]);
    expect(health.unreachable(miner(3))).toBe(false);
  });
});
