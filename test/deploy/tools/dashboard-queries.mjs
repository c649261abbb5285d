#!/usr/bin/env node
// Prints every query of the Grafana dashboards as a recording rule, so that
// `promtool check rules` parses them: a PromQL syntax error in a panel then
// fails CI instead of showing "bad_data" in Grafana.
// Usage: dashboard-queries.mjs dashboard.json ... > rules.yml
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { stringify } from 'yaml';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: dashboard-queries.mjs dashboard.json ...');
  process.exit(2);
}
// Grafana's variables, replaced by what they stand for at query time.
const grafana = (expr) =>
  expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?namespace\}?/g, '.+');

const groups = files.map((file) => {
  const dashboard = JSON.parse(readFileSync(file, 'utf8'));
  const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
  const name = basename(file, '.json').replace(/[^a-zA-Z0-9_]/g, '_');
  const rules = panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      record: `dashboard:${name}:panel_${panel.id}_${target.refId}`,
      expr: grafana(target.expr),
    })),
  );
  return { name: `dashboard ${dashboard.title}`, rules };
});
process.stdout.write(stringify({ groups }, { lineWidth: 0 }));
