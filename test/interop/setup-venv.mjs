// Creates the Python venvs of the interop tests, one per entry below, each
// with its own pinned requirements. Idempotent: a venv that already holds
// exactly its requirements (a stamp of their hash) is left alone, so repeated
// runs cost a second; one made for other requirements is made again. The venvs are set up in parallel. A venv more is an
// entry more. `node setup-venv.mjs .venv-sdk10` sets up only the named ones.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const python = join(root, 'test', 'interop', 'python');

/** dir: the venv folder at the repository root; requirements: its pinned set; probe: the package whose version is reported. */
export const VENVS = [
  { dir: '.venv', requirements: join(python, 'requirements.txt'), probe: 'bittensor' },
  { dir: '.venv-sdk10', requirements: join(python, 'requirements-sdk10.txt'), probe: 'bittensor' },
  // The API fuzzing suite (`npm run test:fuzz`), not the interop tests; kept here so one script makes every venv.
  {
    dir: '.venv-schemathesis',
    requirements: join(root, 'test', 'fuzz', 'requirements.txt'),
    probe: 'schemathesis',
  },
];

function run(cmd, args, label) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
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

async function setUp({ dir, requirements, probe }) {
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
    );
    writeFileSync(stamp, `${wanted}\n`);
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
