#!/usr/bin/env node
// Prints the rule groups of every PrometheusRule in rendered manifests as a
// Prometheus rule file, for `promtool check rules` and for the compose stack.
// Usage: prometheus-rules.mjs rendered.yaml > rules.yml
import { readFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';

const [file] = process.argv.slice(2);
if (!file) {
  console.error('usage: prometheus-rules.mjs rendered.yaml');
  process.exit(2);
}
const groups = parseAllDocuments(readFileSync(file, 'utf8'))
  .map((document) => document.toJS())
  .filter((manifest) => manifest?.kind === 'PrometheusRule')
  .flatMap((rule) => rule.spec.groups);
if (groups.length === 0) {
  console.error(`${file}: no PrometheusRule groups`);
  process.exit(1);
}
process.stdout.write(
  `# Rendered from the Helm chart's PrometheusRule (helm/chattensor/templates/monitoring/prometheusrule.yaml)\n` +
    `# by scripts/deploy-checks.sh --write; do not edit by hand.\n` +
    stringify({ groups }, { lineWidth: 0 }),
);
