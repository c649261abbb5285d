// Creates .venv with the pinned Python SDK for the interop tests. Idempotent:
// when the venv already holds exactly these requirements (a stamp of their
// hash) nothing is installed, so repeated runs cost a second.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const venv = join(root, '.venv');
const python = join(venv, 'bin', 'python');
const requirements = join(root, 'test', 'interop', 'python', 'requirements.txt');
const stamp = join(venv, '.chattensor-requirements.sha256');
const wanted = createHash('sha256').update(readFileSync(requirements)).digest('hex');

function run(cmd, args) {
  execFileSync(cmd, args, { stdio: 'inherit', cwd: root });
}

const systemPython = process.env.PYTHON ?? 'python3';
if (!existsSync(python)) {
  console.log(`interop: creating ${venv} with ${systemPython}`);
  run(systemPython, ['-m', 'venv', venv]);
}
if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === wanted) {
  console.log('interop: .venv already has the pinned requirements');
} else {
  console.log('interop: installing the pinned Python SDK into .venv');
  run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', '--require-virtualenv', '-r', requirements]);
  writeFileSync(stamp, `${wanted}\n`);
}
const version = execFileSync(python, ['-c', 'import importlib.metadata as m; print(m.version("bittensor"))'], { encoding: 'utf8' }).trim();
console.log(`interop: bittensor ${version} ready`);
