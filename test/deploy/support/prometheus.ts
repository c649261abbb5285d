import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../support/infra';

/**
 * A real Prometheus (Debian's `prometheus` binary) scraping local targets
 * every second and evaluating rule files, for the live checks of the alerts
 * and dashboards.
 */
export interface ScrapeTarget {
  address: string;
  labels: Record<string, string>;
}

export interface RunningPrometheus {
  url: string;
  query(expr: string): Promise<unknown[]>;
  get<T>(path: string): Promise<T>;
  stop(): Promise<void>;
  output(): string;
}

export async function startPrometheus(
  dir: string,
  targets: ScrapeTarget[],
  ruleFiles: string[],
): Promise<RunningPrometheus> {
  const port = await freePort();
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: ruleFiles,
    scrape_configs: [
      {
        job_name: 'chattensor',
        metrics_path: '/metrics',
        static_configs: targets.map((t) => ({ targets: [t.address], labels: t.labels })),
      },
    ],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const get = async <T>(path: string): Promise<T> => {
    if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}:\n${output.join('')}`);
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error}`);
    return body.data;
  };
  return {
    url,
    get,
    query: async (expr) =>
      (await get<{ result: unknown[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    output: () => output.join(''),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

export interface RuleGroupState {
  name: string;
  rules: { name: string; type: string; lastEvaluation: string; health: string; lastError?: string }[];
}

export interface AlertState {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}
