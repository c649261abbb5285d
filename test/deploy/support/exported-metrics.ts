import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './chart';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

export interface ExportedMetric {
  name: string;
  type: MetricType;
  labels: Set<string>;
  /** Where it was found: a source file or a scraped exposition. */
  origin: string;
}

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (entry === 'node_modules' || entry === 'generated') continue;
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (entry.endsWith('.ts') && !/\.(spec|integration-spec|e2e-spec)\.ts$/.test(entry)) yield path;
  }
}

/**
 * Metrics the services register with prom-client, read from their sources:
 * every `new Counter|Gauge|Histogram|Summary({ name: '...', labelNames: [...] })`
 * and every `counter|gauge|histogram({ ... })` of libs/common.
 */
export function metricsDeclaredInSources(): ExportedMetric[] {
  const found: ExportedMetric[] = [];
  for (const root of ['services', 'libs']) {
    for (const file of sourceFiles(join(repoRoot, root))) {
      const text = readFileSync(file, 'utf8');
      // Names may be template literals over string constants of the same file (`${METRIC}requests_total`).
      const constants = new Map(
        [...text.matchAll(/\bconst\s+(\w+)\s*=\s*['"]([^'"]*)['"]/g)].map((c) => [c[1], c[2]]),
      );
      const resolve = (literal: string) =>
        literal.replace(/\$\{(\w+)\}/g, (whole, id: string) => constants.get(id) ?? whole);
      // `new Gauge({...})`, or the get-or-create helpers of libs/common (`gauge({...})`).
      for (const m of text.matchAll(
        /(?:\bnew\s+(Counter|Gauge|Histogram|Summary)|\b(counter|gauge|histogram|summary))\s*(?:<[^>]*>)?\s*\(\s*\{([\s\S]*?)\}\s*\)/g,
      )) {
        const kind = (m[1] ?? m[2]).toLowerCase() as MetricType;
        const body = m[3];
        const literal = /\bname:\s*(['"`])([^'"`]+)\1/.exec(body)?.[2];
        if (!literal) continue;
        const name = resolve(literal);
        const labelList = /\blabelNames:\s*\[([^\]]*)\]/.exec(body)?.[1] ?? '';
        const labels = new Set([...labelList.matchAll(/['"]([^'"]+)['"]/g)].map((l) => l[1]));
        found.push({
          name,
          type: kind,
          labels,
          origin: file.slice(repoRoot.length + 1),
        });
      }
    }
  }
  return found;
}

/** Metrics in one Prometheus text exposition (a /metrics body). */
export function metricsInExposition(text: string, origin: string): ExportedMetric[] {
  const metrics = new Map<string, ExportedMetric>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    metrics.set(m[1], { name: m[1], type: m[2] as MetricType, labels: new Set(), origin });
  }
  for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/gm)) {
    const metric = metrics.get(m[1]) ?? metrics.get(m[1].replace(/_(bucket|sum|count)$/, ''));
    for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) metric?.labels.add(l[1]);
  }
  return [...metrics.values()];
}

/** Metrics in the expositions saved as `*.txt` in a folder, e.g. by an end-to-end run. */
export function metricsInExpositions(dir: string): ExportedMetric[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith('.txt'))
    .flatMap((file) => metricsInExposition(readFileSync(join(dir, file), 'utf8'), file));
}

/** The series names a metric produces in an exposition. */
export function seriesNames(metric: ExportedMetric): string[] {
  switch (metric.type) {
    case 'histogram':
      return [`${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`];
    case 'summary':
      return [metric.name, `${metric.name}_sum`, `${metric.name}_count`];
    case 'counter':
    case 'gauge':
      return [metric.name];
  }
}
