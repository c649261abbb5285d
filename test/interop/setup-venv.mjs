// Creates the Python venvs of the interop tests, one per entry below, each
// with its own pinned requirements. Idempotent: a venv that already holds
// exactly its requirements (a stamp of their hash) is left alone, so repeated
// runs cost a second; one made for other requirements is made again. The venvs are set up in parallel. A venv more is an
// entry more. `node setup-venv.mjs .venv-sdk10` sets up only the named ones. One setup of a venv at a time: a second
// (the test suite, while .ci/run's early background setup still builds llama.cpp) waits for the first and reuses it.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const python = join(root, 'test', 'interop', 'python');

/**
 * dir: the venv folder at the repository root; requirements: its pinned set; probe: the package whose version is
 * reported; env: extra environment for its pip install.
 */
export const VENVS = [
  { dir: '.venv', requirements: join(python, 'requirements.txt'), probe: 'bittensor' },
  { dir: '.venv-sdk10', requirements: join(python, 'requirements-sdk10.txt'), probe: 'bittensor' },
  // llama.cpp through llama-cpp-python, built from source (minutes on 2 cores; pip caches the built wheel), for the
  // agreement tests. Its multimodal library is not needed.
  {
    dir: '.venv-llama',
    requirements: join(python, 'requirements-llama.txt'),
    probe: 'llama-cpp-python',
    env: { CMAKE_ARGS: '-DLLAVA_BUILD=OFF', CMAKE_BUILD_PARALLEL_LEVEL: String(availableParallelism()) },
  },
  // The API fuzzing suite (`npm run test:fuzz`), not the interop tests; kept here so one script makes every venv.
  {
    dir: '.venv-schemathesis',
    requirements: join(root, 'test', 'fuzz', 'requirements.txt'),
    probe: 'schemathesis',
  },
];

function run(cmd, args, label, env = process.env) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = (chunk) =>
      chunk
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((line) => `interop ${label}: ${line}\n`)
        .join('');
    child.stdout.on('data', (chunk) => process.stdout.write(prefix(chunk)));
    child.stderr.on('data', (chunk) => process.stderr.write(prefix(chunk)));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolvePromise()
        : reject(new Error(`${label}: ${cmd} ${args.join(' ')} exited with ${code}`)),
    );
  });
}

/** Holds `<dir>.lock` (with this process's pid) while `work` runs; waits while a live process holds it. */
async function exclusively(dir, work) {
  const lock = join(root, `${dir}.lock`);
  for (let announced = false; ;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      // An empty file is a lock being written: wait for it like any other.
      const holder = Number(readFileSync(lock, 'utf8'));
      let stale = false;
      try {
        stale = holder > 0 && !process.kill(holder, 0);
      } catch {
        stale = true;
      }
      if (stale) {
        rmSync(lock, { force: true });
        continue;
      }
      if (!announced) console.log(`interop ${dir}: another setup (pid ${holder}) is at work; waiting for it`);
      announced = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { force: true });
  }
}

async function setUp(entry) {
  return exclusively(entry.dir, () => setUpNow(entry));
}

async function setUpNow({ dir, requirements, probe, env }) {
  const venv = join(root, dir);
  const bin = join(venv, 'bin', 'python');
  const stamp = join(venv, '.chattensor-requirements.sha256');
  const wanted = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  const systemPython = process.env.PYTHON ?? 'python3';
  const current = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : undefined;
  if (current === wanted) {
    console.log(`interop ${dir}: already has the pinned requirements`);
  } else {
    // A venv made for other requirements (or left half-made) is made again, so it holds exactly the pinned set.
    if (existsSync(venv)) {
      console.log(`interop ${dir}: its requirements changed; making it again`);
      rmSync(venv, { recursive: true, force: true });
    }
    console.log(`interop ${dir}: creating the venv with ${systemPython}`);
    await run(systemPython, ['-m', 'venv', venv], dir);
    console.log(`interop ${dir}: installing the pinned requirements`);
    const started = Date.now();
    await run(
      bin,
      [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--quiet',
        '--require-virtualenv',
        '-r',
        requirements,
      ],
      dir,
      { ...process.env, ...env },
    );
    writeFileSync(stamp, `${wanted}\n`);
    console.log(`interop ${dir}: installed in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  const version = execFileSync(
    bin,
    ['-c', `import importlib.metadata as m; print(m.version(${JSON.stringify(probe)}))`],
    { encoding: 'utf8' },
  ).trim();
  console.log(`interop ${dir}: ${probe} ${version} ready`);
}

const only = process.argv.slice(2);
const selected = only.length ? VENVS.filter((v) => only.includes(v.dir)) : VENVS;
if (selected.length === 0) {
  console.error(`interop: no venv named ${only.join(', ')}; known: ${VENVS.map((v) => v.dir).join(', ')}`);
  process.exit(2);
}
const results = await Promise.allSettled(selected.map(setUp));
const failed = results.filter((r) => r.status === 'rejected');
for (const failure of failed) console.error(`interop: ${failure.reason.message}`);
process.exit(failed.length ? 1 : 0);
