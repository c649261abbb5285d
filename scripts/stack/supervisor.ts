import type { Stack } from './stack';

export interface SupervisorOptions {
  /** Wait before the first restart of a service; it doubles with each restart in a row. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** A service that stayed up this long starts again from the first delay. */
  stableAfterMs?: number;
  /** Where the supervisor says what it does. */
  say: (line: string) => void;
}

export interface Supervisor {
  /** Stops watching (call before stopping the stack, so its exits are not restarted). */
  stop(): void;
  /** Leaves one service down when it exits (e.g. to see the cluster cope without it) until resume(). */
  pause(name: string): void;
  /** Watches the service again, restarting it now if it is down. */
  resume(name: string): void;
}

/**
 * Keeps the stack's processes running: when one exits, it is started again
 * with the same environment and ports after a delay that doubles with each
 * restart in a row (1 s up to 30 s, from 1 s again once it has stayed up a
 * minute), and the supervisor says so. A restart that fails (the process
 * exits again while starting) counts as one more exit.
 */
export function supervise(stack: Stack, options: SupervisorOptions): Supervisor {
  const initial = options.initialDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 30_000;
  const stableAfter = options.stableAfterMs ?? 60_000;
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const state = new Map<string, { restarts: number; upSince: number }>();
  const paused = new Set<string>();

  const restart = (name: string, why: string) => {
    const record = state.get(name)!;
    if (Date.now() - record.upSince >= stableAfter) record.restarts = 0;
    const delay = Math.min(max, initial * 2 ** record.restarts);
    record.restarts++;
    options.say(
      `${name} ${why}; restarting it in ${delay / 1000} s` +
        (record.restarts > 1 ? ` (restart ${record.restarts} in a row)` : ''),
    );
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (stopped) return;
      stack
        .startService(name)
        .then(() => {
          if (stopped) return;
          record.upSince = Date.now();
          options.say(`${name} is running again`);
          watch(name);
        })
        .catch((error: unknown) => {
          if (stopped) return;
          // It exited while starting, or never became ready: one more failure in a row.
          const child = stack.service(name).process;
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          restart(name, `did not start (${error instanceof Error ? error.message : String(error)})`);
        });
    }, delay);
    timers.add(timer);
  };

  const watch = (name: string) => {
    const child = stack.service(name).process;
    if (!state.has(name)) state.set(name, { restarts: 0, upSince: Date.now() });
    child.once('exit', (code, signal) => {
      if (stopped || stack.service(name).process !== child) return;
      if (paused.has(name)) {
        options.say(`${name} exited (${signal ? `signal ${signal}` : `code ${code}`}); left down on purpose`);
        return;
      }
      restart(name, `exited (${signal ? `signal ${signal}` : `code ${code}`})`);
    });
  };

  for (const service of stack.services) watch(service.name);
  return {
    pause: (name) => void paused.add(name),
    resume: (name) => {
      if (!paused.delete(name)) return;
      const child = stack.service(name).process;
      if (child.exitCode !== null || child.signalCode !== null) restart(name, 'was left down');
    },
    stop: () => {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
