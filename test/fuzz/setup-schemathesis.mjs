// Creates .venv-schemathesis with the pinned schemathesis (requirements.txt
// beside this file) for the API fuzzing suite. Idempotent: when the venv
// already holds exactly these requirements (a stamp of their hash) nothing is
// installed, so repeated runs cost a second. .ci/run starts it in the
// background early, like the interop venv.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const venv = join(root, '.venv-schemathesis');
const python = join(venv, 'bin', 'python');
const requirements = join(root, 'test', 'fuzz', 'requirements.txt');
const stamp = join(venv, '.chattensor-requirements.sha256');
const wanted = createHash('sha256').update(readFileSync(requirements)).digest('hex');

const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit', cwd: root });

if (!existsSync(python)) {
  console.log(`fuzz: creating ${venv}`);
  run(process.env.PYTHON ?? 'python3', ['-m', 'venv', venv]);
}
if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === wanted) {
  console.log('fuzz: .venv-schemathesis already has the pinned requirements');
} else {
  console.log('fuzz: installing the pinned schemathesis into .venv-schemathesis');
  run(python, [
    '-m',
    'pip',
    'install',
    '--disable-pip-version-check',
    '--quiet',
    '--require-virtualenv',
    '-r',
    requirements,
  ]);
  writeFileSync(stamp, `${wanted}\n`);
}
const version = execFileSync(
  python,
  ['-c', 'import importlib.metadata as m; print(m.version("schemathesis"))'],
  { encoding: 'utf8' },
).trim();
console.log(`fuzz: schemathesis ${version} ready`);
