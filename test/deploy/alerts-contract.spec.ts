import { ciValues, find, render, specOf } from './support/chart';
import { metricsDeclaredInSources } from './support/exported-metrics';
import { emittedLabelValues, key, matchersOf, selected } from './support/emitted-label-values';
import { TARGET_LABELS } from './support/metric-uses';
import { readQuery } from './support/promql';

interface Rule {
  alert: string;
  expr: string;
}
interface RuleGroups {
  groups: { rules: Rule[] }[];
}

const COMPONENTS = ['gateway', 'validator', 'miner', 'chain-indexer'] as const;

/** The alert rules of a release, and the components it runs. */
function release(name: string, valueFile: string, set: Record<string, string | boolean> = {}) {
  const manifests = render({
    valueFiles: [ciValues(valueFile)],
    set: { 'monitoring.prometheusRule.enabled': true, ...set },
  });
  const rules = find(manifests, 'PrometheusRule').flatMap((r) =>
    specOf<RuleGroups>(r).groups.flatMap((g) => g.rules),
  );
  const running = new Set(
    find(manifests, 'Deployment').map((d) => d.metadata.labels?.['app.kubernetes.io/component'] ?? ''),
  );
  return { name, rules, running };
}

const releases = [
  release('full', 'minimal-cpu'),
  release('validator-only', 'validator-only'),
  release('miner-only', 'miner-only'),
];

/** The component whose code declares each metric; metrics of libs/ come from every service. */
const owner = new Map(
  metricsDeclaredInSources().map((m) => [m.name, /^services\/([^/]+)\//.exec(m.origin)?.[1] ?? 'any']),
);
function componentsSelected(expr: string): string[] {
  const fromMetrics = readQuery(expr)
    .selectors.map((s) => owner.get(s.metric.replace(/_(bucket|sum|count)$/, '')))
    .filter((c): c is string => c !== undefined && c !== 'any');
  const fromUp = matchersOf(expr)
    .filter((m) => m.metric === 'up' && m.label === 'component')
    .flatMap((m) => COMPONENTS.filter((c) => selected(m, new Set(COMPONENTS)).includes(c)));
  return [...new Set([...fromMetrics, ...fromUp])];
}

describe('alert rules', () => {
  const emitted = emittedLabelValues();

  it('reads the label values the services emit from their code', () => {
    expect([...emitted.get(key('chattensor_chain_extrinsics_total', 'outcome'))!].sort()).toEqual(
      ['deferred', 'failed', 'finalized', 'in_block', 'recorded', 'skipped'].sort(),
    );
    expect(emitted.get(key('chattensor_validator_jobs_total', 'outcome'))).toEqual(
      expect.objectContaining(new Set(['ok', 'cancelled', 'invalid', 'expired', 'overloaded', 'internal'])),
    );
    for (const check of ['nats', 'redis', 'model', 'axon'])
      expect(emitted.get(key('chattensor_readiness_check_ok', 'check'))?.has(check)).toBe(true);
  });

  describe.each(releases.map((r) => [r.name, r] as const))('of a %s release', (_name, { rules, running }) => {
    it('has rules', () => expect(rules.length).toBeGreaterThan(0));

    it('only watch components the release runs', () => {
      const foreign = rules.flatMap((rule) =>
        componentsSelected(rule.expr)
          .filter((component) => !running.has(component))
          .map((component) => `${rule.alert} watches ${component}`),
      );
      expect(foreign).toEqual([]);
    });

    it('only match label values the code emits, and every value matched is one it emits', () => {
      const problems = rules.flatMap((rule) =>
        matchersOf(rule.expr)
          .filter((m) => !TARGET_LABELS.has(m.label))
          .flatMap((m) => {
            const values = emitted.get(key(m.metric, m.label));
            if (!values)
              return [`${rule.alert}: the values of ${m.metric}{${m.label}} cannot be read from the code`];
            const literals = m.op.endsWith('~') ? m.value.split('|') : [m.value];
            return literals
              .filter((v) => !values.has(v))
              .map(
                (v) => `${rule.alert}: ${m.metric}{${m.label}${m.op}"${m.value}"}: "${v}" is never emitted`,
              );
          }),
      );
      expect(problems).toEqual([]);
    });
  });

  it('counts only failed extrinsics as failing', () => {
    const rule = releases[0].rules.find((r) => r.alert === 'ChatTensorExtrinsicsFailing')!;
    const outcome = matchersOf(rule.expr).find((m) => m.label === 'outcome')!;
    expect(selected(outcome, emitted.get(key('chattensor_chain_extrinsics_total', 'outcome'))!)).toEqual([
      'failed',
    ]);
  });

  it('pages about the miner fleet only where the release runs miners, and about weights only where it runs validators', () => {
    const alerts = Object.fromEntries(releases.map((r) => [r.name, r.rules.map((rule) => rule.alert)]));
    expect(alerts['validator-only']).not.toContain('ChatTensorMinerFleetBelowMinimum');
    expect(alerts['validator-only']).toContain('ChatTensorNoWeightLeader');
    expect(alerts['miner-only']).not.toContain('ChatTensorNoWeightLeader');
    expect(alerts['miner-only']).not.toContain('ChatTensorWeightsNotSet');
    expect(alerts['miner-only']).toContain('ChatTensorMinerFleetBelowMinimum');
    expect(alerts.full).toEqual(
      expect.arrayContaining([...alerts['validator-only'], ...alerts['miner-only']]),
    );
  });
});
