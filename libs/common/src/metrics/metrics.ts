import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
} from 'prom-client';

/**
 * One registry per process. Every metric is prefixed `chattensor_` and the
 * service is a default label, so dashboards can filter by it.
 */
export const metricsRegistry = new Registry();
let defaultsCollected = false;

export function initMetrics(service: string): Registry {
  metricsRegistry.setDefaultLabels({ service });
  if (!defaultsCollected) {
    collectDefaultMetrics({ register: metricsRegistry, prefix: 'chattensor_' });
    defaultsCollected = true;
  }
  return metricsRegistry;
}

/** Latency buckets (seconds) that resolve both sub-millisecond overheads and slow generations. */
export const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80,
];

type MetricConfig<T extends string> = { name: string; help: string; labelNames?: readonly T[] };

/**
 * Get-or-create on the process registry: a provider instantiated twice in one
 * process (a module restarted in tests, two apps in one process) reuses the
 * metric instead of failing on a duplicate name.
 */
export function counter<T extends string = string>(config: MetricConfig<T> & Omit<CounterConfiguration<T>, 'registers'>): Counter<T> {
  return (metricsRegistry.getSingleMetric(config.name) as Counter<T> | undefined) ?? new Counter<T>({ ...config, registers: [metricsRegistry] });
}

export function gauge<T extends string = string>(config: MetricConfig<T> & Omit<GaugeConfiguration<T>, 'registers'>): Gauge<T> {
  return (metricsRegistry.getSingleMetric(config.name) as Gauge<T> | undefined) ?? new Gauge<T>({ ...config, registers: [metricsRegistry] });
}

export function histogram<T extends string = string>(
  config: MetricConfig<T> & Omit<HistogramConfiguration<T>, 'registers'>,
): Histogram<T> {
  return (metricsRegistry.getSingleMetric(config.name) as Histogram<T> | undefined) ?? new Histogram<T>({ ...config, registers: [metricsRegistry] });
}
