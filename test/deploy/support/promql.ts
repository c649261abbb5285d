/**
 * Just enough PromQL reading to check dashboards and alert rules against the
 * metrics the services export: which series each expression selects, with
 * which label matchers, and which labels it groups or matches by.
 */
export interface Selector {
  metric: string;
  labels: string[];
}

export interface QueryUse {
  selectors: Selector[];
  groupingLabels: string[];
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);
const GROUPING = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;

export function readQuery(query: string): QueryUse {
  // String literals (label values, Grafana variables inside them) carry no names.
  let text = query.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  // Grafana's range variables stand where a PromQL duration would.
  text = text.replace(/\$__\w+|\$\{?\w+\}?/g, '5m');
  const groupingLabels = [...text.matchAll(GROUPING)].flatMap((m) =>
    m[1]
      .split(',')
      .map((label) => label.trim())
      .filter(Boolean),
  );
  text = text.replace(GROUPING, ' ');
  const selectors: Selector[] = [];
  // An identifier not preceded by a name character (so not the `m` of `5m`),
  // with its matcher block; one followed by "(" is a function.
  for (const m of text.matchAll(/(?<![a-zA-Z0-9_:.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?/g)) {
    const [, name, block, call] = m;
    if (call || KEYWORDS.has(name.toLowerCase())) continue;
    const labels = block
      ? [...block.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1])
      : [];
    selectors.push({ metric: name, labels });
  }
  return { selectors, groupingLabels };
}
