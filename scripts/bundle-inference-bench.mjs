// `npm run bench:inference:bundle -- <out dir>`: the inference benchmark and
// its helpers as self-contained scripts, for a GPU machine that has Node and
// an onnxruntime-node with the CUDA provider but no checkout of this
// repository. onnxruntime-node stays external (the machine's own is used);
// transformers.js's image library, which text generation never calls, is
// replaced by a stub so that no native image code has to travel.
//
// On that machine, with <dir> holding the bundles and onnxruntime-node
// resolvable from it (a node_modules beside or above <dir>):
//   MINER_DEVICE=cuda BENCH_CACHE_DIR=<scratch> BENCH_PEER_SCRIPT=<dir>/transformers-peer.mjs node <dir>/run.js
//   node <dir>/profile-steps.js <model dir> cuda 32
//   node <dir>/generate-model.js --out <model dir> --preset 400m && node <dir>/device-parity.js <model dir> 64
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const outDir = process.argv[2] ? resolve(process.argv[2]) : null;
if (!outDir) {
  console.error('usage: npm run bench:inference:bundle -- <out dir>');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: ['onnxruntime-node'],
  tsconfig: join(root, 'tsconfig.json'),
  logLevel: 'warning',
};
const scripts = {
  'run.js': 'bench/inference/run.ts',
  'engine-worker.js': 'bench/inference/engine-worker.ts',
  'profile-steps.js': 'bench/inference/profile-steps.ts',
  'device-parity.js': 'bench/inference/device-parity.ts',
  'generate-model.js': 'libs/inference/src/cli/generate-model.ts',
};
for (const [name, entry] of Object.entries(scripts)) {
  await build({ ...common, entryPoints: [join(root, entry)], outfile: join(outDir, name) });
}

const stubDir = mkdtempSync(join(tmpdir(), 'bench-bundle-'));
try {
  const stub = join(stubDir, 'sharp.mjs');
  writeFileSync(
    stub,
    "export default function sharp() { throw new Error('image processing is not part of this bundle'); }\n",
  );
  await build({
    ...common,
    format: 'esm',
    // Both from the machine's onnxruntime-node, so that tensors cross between them.
    external: ['onnxruntime-node', 'onnxruntime-common'],
    alias: { sharp: stub },
    entryPoints: [join(root, 'libs/inference/test/transformers-peer.mjs')],
    outfile: join(outDir, 'transformers-peer.mjs'),
  });
} finally {
  rmSync(stubDir, { recursive: true, force: true });
}
console.log(`bundled ${Object.keys(scripts).length + 1} scripts into ${outDir}`);
