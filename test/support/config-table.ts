import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Variable names in the first column of the configuration table(s) of a service's README. */
export function readmeVariables(service: string): string[] {
  const readme = readFileSync(join(__dirname, '..', '..', 'services', service, 'README.md'), 'utf8');
  return [...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
}
