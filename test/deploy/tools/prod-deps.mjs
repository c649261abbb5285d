#!/usr/bin/env node
// Checks that compiled entry points run on production dependencies alone, as
// the images install them (`npm ci --omit=dev`): follows every require() from
// each entry through the compiled first-party files and resolves each package
// it reaches against the given node_modules.
// Usage: prod-deps.mjs --node-modules DIR entry.js ...
import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { 'node-modules': { type: 'string' } },
  allowPositionals: true,
});
if (!values['node-modules'] || positionals.length === 0) {
  console.error('usage: prod-deps.mjs --node-modules DIR entry.js ...');
  process.exit(2);
}
const modulesDir = resolve(values['node-modules']);
// Looked up in that folder only: Node's own resolution would climb to the
// repository's node_modules, which holds the dev dependencies too.
const installed = (specifier) => {
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return existsSync(join(modulesDir, name, 'package.json'));
};
const builtins = new Set(builtinModules);

function asFile(path) {
  for (const candidate of [path, `${path}.js`, join(path, 'index.js')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

let failures = 0;
for (const entry of positionals) {
  const seen = new Set();
  const missing = new Map();
  const queue = [resolve(entry)];
  while (queue.length > 0) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    const code = readFileSync(file, 'utf8');
    for (const [, specifier] of code.matchAll(/\brequire\("([^"]+)"\)/g)) {
      if (specifier.startsWith('node:') || builtins.has(specifier)) continue;
      if (specifier.startsWith('.')) {
        const target = asFile(resolve(dirname(file), specifier));
        if (target) queue.push(target);
        else missing.set(specifier, relative(process.cwd(), file));
        continue;
      }
      if (!installed(specifier)) missing.set(specifier, relative(process.cwd(), file));
    }
  }
  if (missing.size > 0) {
    failures++;
    console.error(`${entry}: not installed by npm ci --omit=dev:`);
    for (const [specifier, from] of missing) console.error(`  ${specifier} (required by ${from})`);
  } else {
    console.log(`${entry}: ${seen.size} files, every package it requires is a production dependency`);
  }
}
process.exit(failures > 0 ? 1 : 0);
