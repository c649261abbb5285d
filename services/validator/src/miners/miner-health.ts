import { connect } from 'node:net';
import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ErrorCode, gauge } from '@chattensor/common';
import type { Neuron } from '@chattensor/protocol';

/** First cool-down after a failed call; it doubles with each further failure in a row. */
const FIRST_COOL_DOWN_MS = 1000;
const MAX_COOL_DOWN_MS = 5000;
const PROBE_TIMEOUT_MS = 1000;

/** Errors that say the miner itself is gone or broken, not that the request or the caller was at fault. */
const DEAD_MINER_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.Unavailable,
  ErrorCode.Timeout,
  ErrorCode.Internal,
]);

interface Suspension {
  miner: Neuron;
  failures: number;
  until: number;
  probing?: boolean;
}

/** True when something accepts a TCP connection at the miner's endpoint: the process is there again. */
export function tcpProbe(miner: Neuron, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    if (!miner.axon) return resolve(false);
    const socket = connect(miner.axon.port, miner.axon.ip);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * What this validator learned from its own calls about which miners are
 * reachable. A call that fails because the miner is gone (connection
 * refused or dropped, no first token in time, an internal error) takes the
 * miner out of selection for a cool-down that doubles with every failure in
 * a row (1 s up to 5 s). When a cool-down ends, the endpoint is probed
 * with a TCP connection (cheap, no generation): a refusal starts the next,
 * longer cool-down, an answer (or a successful call) clears the record. So a killed miner leaves the serving
 * set at its first failed call, long before its announcements expire
 * (standalone) or the chain marks it inactive, and a restarted one is back
 * within seconds, traffic or not. Keyed by hotkey and endpoint: a miner that
 * comes back on a new address starts clean.
 */
@Injectable()
export class MinerHealth implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly suspended = new Map<string, Suspension>();
  private readonly listeners = new Set<() => void>();
  private timer?: NodeJS.Timeout;

  /** How a miner's endpoint is checked once its cool-down is over. */
  probe: (miner: Neuron) => Promise<boolean> = tcpProbe;

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.probeDue(), FIRST_COOL_DOWN_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Probes the miners whose cool-down is over; returns once every probe has answered. */
  async probeDue(now = Date.now()): Promise<void> {
    const due = [...this.suspended.values()].filter((s) => !s.probing && now >= s.until);
    await Promise.all(
      due.map(async (suspension) => {
        suspension.probing = true;
        const alive = await this.probe(suspension.miner).catch(() => false);
        suspension.probing = false;
        const key = keyOf(suspension.miner);
        if (this.suspended.get(key) !== suspension) return;
        if (alive) this.succeeded(suspension.miner);
        else this.failed(suspension.miner, ErrorCode.Unavailable);
      }),
    );
  }

  private readonly unreachableGauge = gauge({
    name: 'chattensor_validator_unreachable_miners',
    help: 'Miners this validator currently keeps out of selection after failed calls',
    collect: (): void => this.unreachableGauge.set(this.suspended.size),
  });

  /** Records a failed call; returns true when the failure counts against the miner. */
  failed(miner: Neuron, code: ErrorCode, now = Date.now()): boolean {
    if (!DEAD_MINER_CODES.has(code)) return false;
    const key = keyOf(miner);
    const previous = this.suspended.get(key);
    const failures = (previous?.failures ?? 0) + 1;
    const coolDown = Math.min(MAX_COOL_DOWN_MS, FIRST_COOL_DOWN_MS * 2 ** (failures - 1));
    this.suspended.set(key, { miner, failures, until: now + coolDown });
    if (!previous) this.changed();
    return true;
  }

  succeeded(miner: Neuron): void {
    if (this.suspended.delete(keyOf(miner))) this.changed();
  }

  /** False while the miner cools down; true again for a probe once the cool-down is over. */
  usable(miner: Neuron, now = Date.now()): boolean {
    const suspension = this.suspended.get(keyOf(miner));
    return !suspension || now >= suspension.until;
  }

  /** True from a miner's first failed call until a call succeeds: how the status page shows it. */
  unreachable(miner: Neuron): boolean {
    return this.suspended.has(keyOf(miner));
  }

  /** Forgets miners the metagraph no longer lists. */
  retain(neurons: readonly Neuron[]): void {
    const live = new Set(neurons.map(keyOf));
    for (const key of this.suspended.keys()) if (!live.has(key)) this.suspended.delete(key);
  }

  /** Called when a miner becomes unreachable or reachable again (the score report goes out at once). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

function keyOf(miner: Neuron): string {
  return `${miner.hotkey}@${miner.axon?.ip ?? ''}:${miner.axon?.port ?? 0}`;
}
