import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { metricsRegistry } from '../metrics/metrics';

export type ReadinessCheck = () => Promise<boolean | string> | boolean | string;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

const scraped: { registry?: ReadinessRegistry } = {};

/**
 * The readiness checks as a metric, evaluated at scrape time, so alerts see
 * what /readyz would answer (e.g. a service that cannot reach Redis or NATS).
 */
const readinessCheckGauge = new Gauge({
  name: 'chattensor_readiness_check_ok',
  help: '1 while the named readiness check (nats, redis, model, metagraph, ...) passes, else 0',
  labelNames: ['check'],
  registers: [metricsRegistry],
  async collect() {
    if (!scraped.registry) return;
    const report = await scraped.registry.report();
    readinessCheckGauge.reset();
    for (const [check, result] of Object.entries(report.checks))
      readinessCheckGauge.set({ check }, result.ok ? 1 : 0);
  },
});

/**
 * Readiness is the conjunction of named checks that features register at
 * start (NATS connected, Redis answering, model warmed up, metagraph fresh).
 * A check returns true, false, or a string explaining why it is not ready.
 */
@Injectable()
export class ReadinessRegistry {
  private readonly checks = new Map<string, ReadinessCheck>();
  private shuttingDown = false;

  constructor() {
    // One registry per process in a running service; the latest one is what /metrics reports.
    scraped.registry = this;
  }

  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** After SIGTERM the instance stops taking new work: report not ready. */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  async report(): Promise<ReadinessReport> {
    const checks: ReadinessReport['checks'] = {};
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        try {
          const result = await Promise.race([
            Promise.resolve(check()),
            new Promise<string>((resolve) => setTimeout(() => resolve('check timed out'), 2000).unref()),
          ]);
          checks[name] =
            result === true ? { ok: true } : { ok: false, detail: result === false ? undefined : result };
        } catch (error) {
          checks[name] = { ok: false, detail: (error as Error).message };
        }
      }),
    );
    if (this.shuttingDown) checks['shutdown'] = { ok: false, detail: 'shutting down' };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }
}
