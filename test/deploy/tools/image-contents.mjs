#!/usr/bin/env node
// Describes the application layer of each image assembled by
// scripts/deploy-checks.sh (DIR/<image>/{node_modules,dist}), without a
// container engine: the packages its node_modules holds, the native binary
// folders left in it, and sizes. Prints JSON for the deploy tests.
// Usage: image-contents.mjs DIR
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const [dir] = process.argv.slice(2);
if (!dir) {
  console.error('usage: image-contents.mjs DIR');
  process.exit(2);
}

/** Bytes of the files under a folder (hard links counted in full, as a layer would hold them). */
function bytes(path) {
  const stat = lstatSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, entry) => sum + bytes(join(path, entry)), 0);
}

function packages(modulesDir, found = []) {
  if (!existsSync(modulesDir)) return found;
  for (const entry of readdirSync(modulesDir)) {
    if (entry.startsWith('.')) continue;
    const dirs = entry.startsWith('@')
      ? readdirSync(join(modulesDir, entry)).map((s) => join(modulesDir, entry, s))
      : [join(modulesDir, entry)];
    for (const pkg of dirs) {
      const manifest = join(pkg, 'package.json');
      if (!existsSync(manifest)) continue;
      const { name, version } = JSON.parse(readFileSync(manifest, 'utf8'));
      found.push({ name, version, path: pkg });
      packages(join(pkg, 'node_modules'), found);
    }
  }
  return found;
}

const report = {};
for (const image of readdirSync(dir).sort()) {
  const modules = join(dir, image, 'node_modules');
  const all = packages(modules);
  const nativeBinaryFolders = all.flatMap(({ path }) => {
    const bin = join(path, 'bin');
    if (!existsSync(bin)) return [];
    return readdirSync(bin)
      .filter((e) => /^napi-v\d+$/.test(e))
      .flatMap((napi) =>
        readdirSync(join(bin, napi)).flatMap((os) =>
          readdirSync(join(bin, napi, os)).map((cpu) => relative(modules, join(bin, napi, os, cpu))),
        ),
      );
  });
  report[image] = {
    packages: [...new Set(all.map((p) => p.name))].sort(),
    nativeBinaryFolders,
    nodeModulesBytes: bytes(modules),
    distBytes: bytes(join(dir, image, 'dist')),
  };
}
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
