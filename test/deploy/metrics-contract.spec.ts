import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { initMetrics, metricsRegistry } from '@chattensor/common';
import { ciValues, chartDir, find, render, repoRoot, specOf } from './support/chart';
import {
  metricsDeclaredInSources,
  metricsInExpositions,
  seriesNames,
  type ExportedMetric,
} from './support/exported-metrics';
import { readQuery } from './support/promql';

/** Labels Prometheus attaches when scraping (PodMonitor relabelling, compose static labels) or that PromQL makes. */
const TARGET_LABELS = new Set([
  'namespace',
  'pod',
  'container',
  'endpoint',
  'job',
  'instance',
  'component',
  'release',
  'service',
  'profile',
]);
/** Series Prometheus itself produces for every target. */
const PROMETHEUS_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

interface Use {
  where: string;
  expr: string;
}

interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; type: string; definition?: string }[] };
}
interface Panel {
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}
interface RuleGroups {
  groups: { name: string; rules: { alert: string; expr: string }[] }[];
}
interface ScaledObjectSpec {
  triggers: { type: string; metadata: { query: string } }[];
}
interface HpaSpec {
  metrics: { type: string; pods?: { metric: { name: string } } }[];
}
interface AdapterValues {
  rules: { custom: { seriesQuery: string; name: { as: string } }[] };
}

function dashboardQueries(): Use[] {
  const dir = join(chartDir, 'dashboards');
  return readdirSync(dir).flatMap((file) => {
    const dashboard = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Dashboard;
    const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    const targets = panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ where: `${file}: ${p.title}`, expr: t.expr })),
    );
    const variables = dashboard.templating.list
      .filter((v) => v.type === 'query')
      .map((v) => ({
        where: `${file}: variable ${v.name}`,
        expr: String(v.definition).replace(/^label_values\((.*),\s*\w+\)$/, '$1'),
      }));
    return [...targets, ...variables];
  });
}

function chartQueries(): Use[] {
  const manifests = render({
    valueFiles: [ciValues('autoscaling-keda')],
    set: { 'monitoring.prometheusRule.enabled': true },
  });
  const rules = find(manifests, 'PrometheusRule').flatMap((rule) =>
    specOf<RuleGroups>(rule).groups.flatMap((group) =>
      group.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
    ),
  );
  const keda = find(manifests, 'ScaledObject').flatMap((o) =>
    specOf<ScaledObjectSpec>(o).triggers.map((t) => ({
      where: `ScaledObject ${o.metadata.name}`,
      expr: t.metadata.query,
    })),
  );
  return [...rules, ...keda];
}

function composeRuleQueries(): Use[] {
  const file = parse(readFileSync(join(repoRoot, 'deploy/prometheus/alerts.yml'), 'utf8')) as RuleGroups;
  return file.groups.flatMap((g) =>
    g.rules.map((r) => ({ where: `compose alert ${r.alert}`, expr: r.expr })),
  );
}

/** Custom metrics the HPAs ask the Prometheus adapter for. */
function hpaMetricNames(): { where: string; name: string }[] {
  const manifests = render({
    valueFiles: [ciValues('autoscaling-keda')],
    set: { 'miner.keda.enabled': false, 'miner.autoscaling.enabled': true },
  });
  return find(manifests, 'HorizontalPodAutoscaler').flatMap((hpa) =>
    specOf<HpaSpec>(hpa)
      .metrics.filter((m) => m.type === 'Pods')
      .map((m) => ({ where: `HPA ${hpa.metadata.name}`, name: m.pods!.metric.name })),
  );
}

async function defaultMetrics(): Promise<ExportedMetric[]> {
  // The process and Node.js runtime metrics every service registers at start, with the real prefix.
  initMetrics('deploy-contract-test');
  const all = await metricsRegistry.getMetricsAsJSON();
  return all.map((m) => ({
    name: m.name,
    type: String(m.type) as ExportedMetric['type'],
    labels: new Set<string>(),
    origin: 'initMetrics',
  }));
}

function index(metrics: ExportedMetric[]): Map<string, ExportedMetric> {
  const bySeries = new Map<string, ExportedMetric>();
  for (const metric of metrics) {
    for (const series of seriesNames(metric)) {
      // The same metric can come from the sources and from the live registry: keep every label either saw.
      const seen = bySeries.get(series);
      bySeries.set(series, seen ? { ...seen, labels: new Set([...seen.labels, ...metric.labels]) } : metric);
    }
  }
  return bySeries;
}

/** Problems of one expression against the exported metrics: unknown series, unknown labels. */
function problems(use: Use, exported: Map<string, ExportedMetric>): string[] {
  const { selectors, groupingLabels } = readQuery(use.expr);
  const found: string[] = [];
  const labelsInScope = new Set(TARGET_LABELS);
  for (const { metric, labels } of selectors) {
    if (PROMETHEUS_SERIES.has(metric)) continue;
    const known = exported.get(metric);
    if (!known) {
      found.push(`${use.where}: ${metric} is not exported by any service`);
      continue;
    }
    known.labels.forEach((l) => labelsInScope.add(l));
    if (metric.endsWith('_bucket')) labelsInScope.add('le');
    for (const label of labels) {
      if (!TARGET_LABELS.has(label) && !known.labels.has(label))
        found.push(`${use.where}: ${metric} has no label "${label}"`);
    }
  }
  for (const label of groupingLabels) {
    if (!labelsInScope.has(label))
      found.push(`${use.where}: groups by "${label}", which none of its series has`);
  }
  return found;
}

describe('metrics used by dashboards, alerts and autoscalers', () => {
  const uses = [...dashboardQueries(), ...chartQueries(), ...composeRuleQueries()];
  let declared: Map<string, ExportedMetric>;

  beforeAll(async () => {
    declared = index([...metricsDeclaredInSources(), ...(await defaultMetrics())]);
  });

  it('reads queries from every dashboard, the alert rules and the KEDA trigger', () => {
    expect(uses.filter((u) => u.where.startsWith('alert ')).length).toBeGreaterThanOrEqual(8);
    expect(uses.filter((u) => u.where.includes('.json')).length).toBeGreaterThanOrEqual(20);
    expect(uses.some((u) => u.where.startsWith('ScaledObject'))).toBe(true);
  });

  it('only select series, with labels, that the services declare', () => {
    expect(uses.flatMap((use) => problems(use, declared))).toEqual([]);
  });

  it('only ask the Prometheus adapter for metrics its rules derive from exported series', () => {
    const adapter = parse(
      readFileSync(join(repoRoot, 'deploy/prometheus-adapter/values.yaml'), 'utf8'),
    ) as AdapterValues;
    const served = new Map(
      adapter.rules.custom.map((rule) => [
        rule.name.as,
        /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(rule.seriesQuery)![1],
      ]),
    );
    const unserved = hpaMetricNames().filter((m) => !served.has(m.name));
    expect(unserved).toEqual([]);
    const fromUnknownSeries = [...served].filter(([, series]) => !declared.has(series));
    expect(fromUnknownSeries).toEqual([]);
  });

  // An end-to-end run that saves each service's /metrics body here turns the
  // check above from "declared in the sources" into "seen on a live service".
  const expositionDir = join(repoRoot, 'test/.artifacts/metrics');
  const scraped = metricsInExpositions(expositionDir);
  (scraped.length > 0 ? it : it.skip)(
    'only select series that live services expose (test/.artifacts/metrics)',
    () => {
      const live = index(scraped);
      const unseen = uses.flatMap((use) => problems(use, live)).filter((p) => p.includes('is not exported'));
      expect(unseen).toEqual([]);
    },
  );
});
