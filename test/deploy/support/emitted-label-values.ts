import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '@chattensor/common';
import { extrinsicOutcomeSchema } from '@chattensor/protocol';
import { repoRoot } from './chart';

/**
 * The label values the services really emit, read from their code, so that
 * alert rules can be checked against them rather than against made-up series:
 * - literal values at every `<metric field>.inc|set|dec|observe({ label: ... })`
 *   of the file that declares the metric (every string literal of the value
 *   expression: `signal.aborted ? 'cancelled' : 'ok'` gives both);
 * - where a value is computed, the type it is computed from (TYPED below);
 * - the names of readiness checks (`readiness.register('redis', ...)`), the
 *   `check` label of chattensor_readiness_check_ok.
 */
export type EmittedValues = Map<string, Set<string>>;

export const key = (metric: string, label: string) => `${metric}|${label}`;

/** Values computed at run time, from the types the code computes them with. */
const TYPED: Record<string, readonly string[]> = {
  // `outcome.outcome` of an ExtrinsicOutcome (libs/protocol).
  [key('chattensor_chain_extrinsics_total', 'outcome')]: extrinsicOutcomeSchema.shape.outcome.options,
  [key('chattensor_miner_serve_axon_requests_total', 'outcome')]:
    extrinsicOutcomeSchema.shape.outcome.options,
  // `appError.code` of a failed chat job.
  [key('chattensor_validator_jobs_total', 'outcome')]: ERROR_CODES,
};

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (entry === 'node_modules' || entry === 'generated') continue;
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (entry.endsWith('.ts') && !/\.(spec|integration-spec|e2e-spec)\.ts$/.test(entry)) yield path;
  }
}

export function emittedLabelValues(): EmittedValues {
  const values: EmittedValues = new Map();
  const add = (k: string, v: string) => values.set(k, (values.get(k) ?? new Set()).add(v));
  for (const [k, typed] of Object.entries(TYPED)) for (const v of typed) add(k, v);
  for (const root of ['services', 'libs']) {
    for (const file of sourceFiles(join(repoRoot, root))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\breadiness\.register\(\s*'([^']+)'/g))
        add(key('chattensor_readiness_check_ok', 'check'), m[1]);
      // `field = counter({ name: 'm' ...` or `field = shared('m', ...`: the field that holds metric m.
      const fields = [
        ...text.matchAll(
          /\b(\w+)\s*=\s*(?:new\s+\w+|counter|gauge|histogram|summary)\s*(?:<[^>]*>)?\s*\(\s*\{[^}]*?\bname:\s*'([^']+)'/g,
        ),
        ...text.matchAll(/\b(\w+)\s*=\s*shared\(\s*'([^']+)'/g),
      ];
      for (const [, field, metric] of fields) {
        const calls = new RegExp(`\\b${field}\\.(?:inc|dec|set|observe)\\(\\s*\\{([^}]*)\\}`, 'g');
        for (const call of text.matchAll(calls)) {
          for (const pair of call[1].split(',')) {
            const colon = pair.indexOf(':');
            if (colon < 0) continue;
            const label = pair.slice(0, colon).trim();
            for (const literal of pair.slice(colon + 1).matchAll(/'([^']*)'/g))
              add(key(metric, label), literal[1]);
          }
        }
      }
    }
  }
  return values;
}

export interface Matcher {
  metric: string;
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** Every `metric{label op "value"}` matcher of a PromQL expression. */
export function matchersOf(expr: string): Matcher[] {
  const found: Matcher[] = [];
  for (const selector of expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)) {
    for (const m of selector[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g))
      found.push({ metric: selector[1], label: m[1], op: m[2] as Matcher['op'], value: m[3] });
  }
  return found;
}

/** The emitted values a matcher selects. */
export function selected(matcher: Matcher, emitted: Set<string>): string[] {
  const re = new RegExp(`^(?:${matcher.value})$`);
  return [...emitted].filter((v) => {
    switch (matcher.op) {
      case '=':
        return v === matcher.value;
      case '!=':
        return v !== matcher.value;
      case '=~':
        return re.test(v);
      case '!~':
        return !re.test(v);
    }
  });
}
