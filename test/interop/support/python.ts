import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const root = resolve(__dirname, '..', '..', '..');
/** The current SDK, bittensor 11.3.0 (test/interop/python/requirements.txt). */
export const PYTHON = join(root, '.venv', 'bin', 'python');
/** The legacy SDK, bittensor 10.5.0 (requirements-sdk10.txt): the SDK-10 axon, dendrite and synapses. */
export const PYTHON_SDK10 = join(root, '.venv-sdk10', 'bin', 'python');
/** The venv with llama-cpp-python (setup-venv.mjs). */
export const LLAMA_PYTHON = join(root, '.venv-llama', 'bin', 'python');
export const SCRIPTS = join(root, 'test', 'interop', 'python');

/** A private HOME so the SDK's ~/.bittensor folders land in a scratch directory. */
export function pythonEnv(): NodeJS.ProcessEnv {
  const home = join(tmpdir(), 'chattensor-interop-home');
  mkdirSync(home, { recursive: true });
  return {
    ...process.env,
    HOME: home,
    PYTHONPATH: SCRIPTS,
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  };
}

/**
 * A pinned Python SDK answering requests over stdin/stdout (python/oracle.py
 * on 10.5.0, python/oracle11.py on 11.3.0): one long-lived process per test
 * file, so thousands of checks cost one import.
 */
export class PythonOracle {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private stderr = '';

  constructor(script = 'oracle.py', python = PYTHON_SDK10) {
    this.child = spawn(python, [join(SCRIPTS, script)], { env: pythonEnv() });
    this.child.stderr.on(
      'data',
      (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4000)),
    );
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const msg = JSON.parse(line) as { id: number; result?: unknown; error?: string; trace?: string };
      const waiter = this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id);
      if (msg.error !== undefined) waiter.reject(new Error(`python: ${msg.error}\n${msg.trace ?? ''}`));
      else waiter.resolve(msg.result);
    });
    this.child.on('exit', (code) => {
      for (const waiter of this.pending.values())
        waiter.reject(new Error(`python oracle exited (${code}): ${this.stderr}`));
      this.pending.clear();
    });
  }

  call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    await exited;
  }
}

export interface PythonRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one interop script to completion. */
export function runPython(
  script: string,
  args: string[],
  timeoutMs = 60_000,
  python = PYTHON_SDK10,
): Promise<PythonRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, [join(SCRIPTS, script), ...args], { env: pythonEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running interop script and waits for its `READY ...` line. */
export async function startPython(
  script: string,
  args: string[],
  timeoutMs = 60_000,
  python = PYTHON_SDK10,
): Promise<{ ready: string; stop: () => Promise<void>; stderr: () => string }> {
  const child = spawn(python, [join(SCRIPTS, script), ...args], { env: pythonEnv() });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const ready = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not become ready: ${stderr}`)), timeoutMs);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('READY')) {
        clearTimeout(timer);
        resolvePromise(line.slice('READY'.length).trim());
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code}) before ready: ${stderr}`));
    });
  });
  return {
    ready,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
