import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ciValues, chartDir, find, render, repoRoot, specOf } from './chart';
import { seriesNames, type ExportedMetric } from './exported-metrics';
import { readQuery } from './promql';

/**
 * Where the deployment uses metrics: every dashboard query, every alert rule
 * (as the chart renders them and as the compose Prometheus loads them), and
 * the KEDA trigger; and how to check them against exported metrics.
 */

/** Labels Prometheus attaches when scraping (PodMonitor relabelling, compose static labels) or that PromQL makes. */
export const TARGET_LABELS = new Set([
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
export const PROMETHEUS_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

export interface Use {
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
export function dashboardQueries(): Use[] {
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

export function chartQueries(): Use[] {
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
    specOf<ScaledObjectSpec>(o)
      .triggers.filter((t) => t.type === 'prometheus')
      .map((t) => ({
        where: `ScaledObject ${o.metadata.name}`,
        expr: t.metadata.query,
      })),
  );
  return [...rules, ...keda];
}

export function composeRuleQueries(): Use[] {
  const file = parse(readFileSync(join(repoRoot, 'deploy/prometheus/alerts.yml'), 'utf8')) as RuleGroups;
  return file.groups.flatMap((g) =>
    g.rules.map((r) => ({ where: `compose alert ${r.alert}`, expr: r.expr })),
  );
}

export function index(metrics: ExportedMetric[]): Map<string, ExportedMetric> {
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
export function problems(use: Use, exported: Map<string, ExportedMetric>): string[] {
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

/** All queries of the dashboards, the chart's rules and KEDA trigger, and the compose rules. */
export function allQueries(): Use[] {
  return [...dashboardQueries(), ...chartQueries(), ...composeRuleQueries()];
}
