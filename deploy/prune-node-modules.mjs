#!/usr/bin/env node
// Reduces a production node_modules (npm ci --omit=dev) to what one service
// runs, for its image: the packages its compiled entry points require
// (followed through the compiled first-party files), their dependencies
// (dependencies, optionalDependencies, and peerDependencies that are
// installed), and of native packages only the binaries of the image's
// platform. Everything else is deleted. Used by every Dockerfile under
// deploy/ and by scripts/deploy-checks.sh, which checks the result.
//
// A package required only inside a function (an indented require, e.g.
// libs/inference loading onnxruntime-node when it creates a session) is loaded
// lazily: it is kept only where the image names it with --with, so a service
// that never takes that path (the gateway counting prompt tokens) does not
// carry it.
//
// Usage: prune-node-modules.mjs --node-modules DIR [--platform linux/x64] [--with PKG ...] entry.js ...
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: {
    'node-modules': { type: 'string' },
    platform: { type: 'string', default: 'linux/x64' },
    with: { type: 'string', multiple: true, default: [] },
  },
  allowPositionals: true,
});
if (!values['node-modules'] || positionals.length === 0) {
  console.error('usage: prune-node-modules.mjs --node-modules DIR [--platform linux/x64] entry.js ...');
  process.exit(2);
}
const root = resolve(values['node-modules']);
const builtins = new Set(builtinModules);
const packageName = (specifier) => {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
};
const asFile = (path) =>
  [path, `${path}.js`, join(path, 'index.js')].find((c) => existsSync(c) && statSync(c).isFile());

// 1. Packages the compiled first-party code requires.
const direct = new Set();
const seen = new Set();
const queue = positionals.map((entry) => resolve(entry));
while (queue.length > 0) {
  const file = queue.pop();
  if (seen.has(file)) continue;
  seen.add(file);
  // Either quote: swc writes its own imports with double quotes but keeps a lazy require('x') as written.
  for (const [, indent, , specifier] of readFileSync(file, 'utf8').matchAll(
    /^([ \t]*).*\brequire\((["'])([^"']+)\2\)/gm,
  )) {
    if (specifier.startsWith('node:') || builtins.has(specifier)) continue;
    if (specifier.startsWith('.')) {
      const target = asFile(resolve(dirname(file), specifier));
      if (target) queue.push(target);
    } else if (indent === '') {
      direct.add(packageName(specifier));
    }
  }
}
for (const name of values.with) direct.add(name);

// 2. Their closure, resolved as Node does: the nearest node_modules upwards, within the tree.
function locate(name, fromDir) {
  for (let dir = fromDir; dir.startsWith(root); dir = dirname(dir)) {
    const candidate =
      dir.endsWith(`${sep}node_modules`) || dir === root ? join(dir, name) : join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root) break;
  }
  return undefined;
}
const keep = new Set();
const missing = [];
const pending = [...direct].map((name) => ({ name, from: root, optional: false }));
while (pending.length > 0) {
  const { name, from, optional } = pending.pop();
  const dir = locate(name, from);
  if (!dir) {
    if (!optional) missing.push(name);
    continue;
  }
  if (keep.has(dir)) continue;
  keep.add(dir);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(manifest.dependencies ?? {}))
    pending.push({ name: dep, from: dir, optional: false });
  for (const dep of [
    ...Object.keys(manifest.optionalDependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
  ])
    pending.push({ name: dep, from: dir, optional: true });
}
if (missing.length > 0) {
  console.error(`not installed in ${root}: ${[...new Set(missing)].join(', ')}`);
  process.exit(1);
}

// 3. Delete every package directory that is not kept (nested ones under kept packages too).
function packageDirs(modulesDir) {
  if (!existsSync(modulesDir)) return [];
  return readdirSync(modulesDir).flatMap((entry) => {
    if (entry.startsWith('.')) return [];
    const path = join(modulesDir, entry);
    if (entry.startsWith('@')) return readdirSync(path).map((scoped) => join(path, scoped));
    return [path];
  });
}
let removed = 0;
(function prune(modulesDir) {
  for (const dir of packageDirs(modulesDir)) {
    if (keep.has(dir)) prune(join(dir, 'node_modules'));
    else {
      rmSync(dir, { recursive: true, force: true });
      removed++;
    }
  }
  for (const entry of existsSync(modulesDir) ? readdirSync(modulesDir) : []) {
    const path = join(modulesDir, entry);
    if (entry.startsWith('@') && readdirSync(path).length === 0) rmSync(path, { recursive: true });
  }
})(root);
// Links to executables of packages that may be gone, and npm's record of the full tree.
rmSync(join(root, '.bin'), { recursive: true, force: true });
rmSync(join(root, '.package-lock.json'), { force: true });

// 4. Native binaries of other platforms (prebuilt N-API layouts: bin/napi-v*/<os>/<arch>).
const [os, arch] = values.platform.split('/');
let foreign = 0;
for (const dir of keep) {
  const bin = join(dir, 'bin');
  if (!existsSync(bin)) continue;
  for (const napi of readdirSync(bin).filter((e) => /^napi-v\d+$/.test(e))) {
    for (const platform of readdirSync(join(bin, napi))) {
      const platformDir = join(bin, napi, platform);
      if (platform !== os) {
        rmSync(platformDir, { recursive: true, force: true });
        foreign++;
        continue;
      }
      for (const cpu of readdirSync(platformDir).filter((c) => c !== arch)) {
        rmSync(join(platformDir, cpu), { recursive: true, force: true });
        foreign++;
      }
    }
  }
}
console.log(
  `${positionals.map((p) => relative(process.cwd(), p)).join(', ')}: ${direct.size} packages required, ` +
    `${keep.size} kept with their dependencies, ${removed} removed, ${foreign} foreign binary folders removed`,
);
