// Compiles every lib, service, script and benchmark to dist/ with swc (decorator
// metadata included, which Nest's dependency injection needs), rewriting the
// @chattensor/* path aliases to relative requires. Type checking is separate
// (`npm run typecheck`) so that a build stays a two-second step.
import { transformFile } from '@swc/core';
import { cp, mkdir, readdir, readFile, writeFile, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist');
const roots = ['libs', 'services', 'scripts', 'bench'];
const swcrc = JSON.parse(await readFile(join(root, '.swcrc'), 'utf8'));
const tsconfig = JSON.parse(await readFile(join(root, 'tsconfig.base.json'), 'utf8'));
const aliases = Object.fromEntries(
  Object.entries(tsconfig.compilerOptions.paths).map(([name, [target]]) => [
    name,
    join(root, target.replace(/\.ts$/, '')),
  ]),
);

async function* walk(dir) {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules') continue;
      yield* walk(path);
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') && !/\.(spec|integration-spec|e2e-spec)\.ts$/.test(entry.name)) {
      yield path;
    }
  }
}

function rewriteAliases(code, sourceFile) {
  return code.replace(/require\("(@chattensor\/[a-z-]+)"\)/g, (match, name) => {
    const target = aliases[name];
    if (!target) return match;
    let rel = relative(dirname(sourceFile), target).split(sep).join('/');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    return `require("${rel}")`;
  });
}

await rm(outDir, { recursive: true, force: true });
const files = [];
for (const base of roots) for await (const file of walk(join(root, base))) files.push(file);
await Promise.all(
  files.map(async (file) => {
    const out = join(outDir, relative(root, file)).replace(/\.ts$/, '.js');
    const { code, map } = await transformFile(file, { ...swcrc, swcrc: false, filename: file, sourceFileName: relative(dirname(out), file) });
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, `${rewriteAliases(code, file)}\n//# sourceMappingURL=${out.split(sep).pop()}.map\n`);
    if (map) await writeFile(`${out}.map`, map);
  }),
);
// Static assets (the gateway's web pages) travel next to the compiled code.
for (const service of await readdir(join(root, 'services'))) {
  const dir = join(root, 'services', service, 'public');
  try {
    await cp(dir, join(outDir, 'services', service, 'public'), { recursive: true });
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
}
console.log(`built ${files.length} files into dist/`);
