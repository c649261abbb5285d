// Creates the Python virtual environments of the interop tests, one per entry
// below, each with its pinned requirements. Idempotent: when a venv already
// holds exactly its requirements (a stamp of their hash) nothing is installed,
// so repeated runs cost a second. `node setup-venv.mjs <dir>...` sets up only
// the named ones (.ci/run starts the slow llama.cpp build on its own, early).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const VENVS = [
  // The Python SDK.
  { dir: '.venv', requirements: 'requirements.txt', check: ['bittensor', 'bittensor'] },
  // llama.cpp through llama-cpp-python, built from source (several minutes; pip caches the wheel).
  // Its multimodal library (LLAVA_BUILD) is not needed.
  { dir: '.venv-llama', requirements: 'requirements-llama.txt', check: ['llama-cpp-python', 'llama_cpp'], env: { CMAKE_ARGS: '-DLLAVA_BUILD=OFF' } },
];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((dir) => !VENVS.some((venv) => venv.dir === dir));
if (unknown.length > 0) throw new Error(`unknown venv ${unknown.join(', ')} (known: ${VENVS.map((venv) => venv.dir).join(', ')})`);

function run(cmd, args, env = process.env) {
  execFileSync(cmd, args, { stdio: 'inherit', cwd: root, env });
}

const systemPython = process.env.PYTHON ?? 'python3';
for (const entry of VENVS.filter((venv) => wanted.length === 0 || wanted.includes(venv.dir))) {
  const venv = join(root, entry.dir);
  const python = join(venv, 'bin', 'python');
  const requirements = join(root, 'test', 'interop', 'python', entry.requirements);
  const stamp = join(venv, '.chattensor-requirements.sha256');
  const hash = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  if (!existsSync(python)) {
    console.log(`interop: creating ${venv} with ${systemPython}`);
    run(systemPython, ['-m', 'venv', venv]);
  }
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash) {
    console.log(`interop: ${entry.dir} already has the pinned requirements`);
  } else {
    console.log(`interop: installing ${entry.requirements} into ${entry.dir}`);
    const started = Date.now();
    run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', '--require-virtualenv', '-r', requirements], {
      ...process.env,
      CMAKE_BUILD_PARALLEL_LEVEL: String(availableParallelism()),
      ...entry.env,
    });
    writeFileSync(stamp, `${hash}\n`);
    console.log(`interop: ${entry.dir} installed in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  const version = execFileSync(python, ['-c', `import importlib.metadata as m, ${entry.check[1]}; print(m.version("${entry.check[0]}"))`], { encoding: 'utf8' }).trim();
  console.log(`interop: ${entry.check[0]} ${version} ready in ${entry.dir}`);
}
