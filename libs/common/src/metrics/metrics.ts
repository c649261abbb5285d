import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per process. Every metric is prefixed `chattensor_` and the
 * service is a default label, so dashboards can filter by it.
 */
export const metricsRegistry = new Registry();
let defaultsCollected = false;

export function initMetrics(service: string): Registry {
  metricsRegistry.setDefaultLabels({ service });
  if (!defaultsCollected) {
    collectDefaultMetrics({ register: metricsRegistry, prefix: 'chattensor_process_' });
    defaultsCollected = true;
  }
  return metricsRegistry;
}

/** Latency buckets (seconds) that resolve both sub-millisecond overheads and slow generations. */
export const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80,
];
