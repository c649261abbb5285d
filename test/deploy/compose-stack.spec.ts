import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { expectEventually } from '../support/expect-eventually';
import { freePort, provideInfra, type Infra } from '../support/infra';
import {
  ciValues,
  podSpecOf,
  readRepoFile,
  render,
  repoRoot,
  SERVICES,
  type ServiceName,
} from './support/chart';
import { metricsDeclaredInSources, metricsInExposition } from './support/exported-metrics';
import { allQueries, dashboardQueries, index, problems } from './support/metric-uses';
import { startPrometheus, type AlertState, type RuleGroupState } from './support/prometheus';

/**
 * The compose stack without Docker: the four built services run as processes,
 * from their images' contents where the deploy checks assembled them, with
 * the environment deploy/docker-compose.yml gives them (container
 * host names and ports swapped for local ones), and the chart's `helm test`
 * script must get a chat answer through them.
 */
const compose = parse(readRepoFile('deploy/docker-compose.yml'), { merge: true }) as {
  services: Record<string, { environment: Record<string, string> }>;
};

/**
 * Where a service runs from: its image's application layer (node_modules
 * reduced to what the service needs, dist) as scripts/deploy-checks.sh
 * assembles it, or the repository when the test runs on its own.
 */
const appDir = (service: ServiceName) =>
  process.env.DEPLOY_IMAGES_DIR ? join(process.env.DEPLOY_IMAGES_DIR, service) : repoRoot;

interface Running {
  service: ServiceName;
  child: ChildProcess;
  httpPort: number;
  output: string[];
}

describe('compose environment, run as processes', () => {
  let infra: Infra;
  let scratch: string;
  const running: Running[] = [];

  beforeAll(async () => {
    // A NATS and a Redis of its own: shared ones may hold other tests' miners and locks.
    const shared = { nats: process.env.NATS_URL, redis: process.env.REDIS_URL };
    delete process.env.NATS_URL;
    delete process.env.REDIS_URL;
    try {
      infra = await provideInfra();
    } finally {
      if (shared.nats) process.env.NATS_URL = shared.nats;
      if (shared.redis) process.env.REDIS_URL = shared.redis;
    }
    scratch = mkdtempSync(join(tmpdir(), 'chattensor-compose-'));
    const models = join(scratch, 'models');
    // What the compose `model` service does before miners start.
    execFileSync(
      'node',
      ['dist/libs/inference/src/cli/generate-model.js', '--out', join(models, 'tiny'), '--preset', 'tiny'],
      {
        cwd: appDir('miner'),
        stdio: 'ignore',
      },
    );
    for (const service of SERVICES) {
      const httpPort = await freePort();
      const env: Record<string, string> = { ...compose.services[service].environment };
      for (const [name, value] of Object.entries(env)) {
        env[name] = String(value)
          .replace('nats://nats:4222', infra.natsUrl)
          .replace('redis://redis:6379', infra.redisUrl);
      }
      env.HTTP_PORT = String(httpPort);
      if (env.GRPC_PORT) env.GRPC_PORT = String(await freePort());
      // Weight rounds every two seconds instead of every minute, so that Prometheus sees some.
      if (env.WEIGHTS_INTERVAL_SECONDS) env.WEIGHTS_INTERVAL_SECONDS = '2';
      if (env.ANNOUNCE_HOST) env.ANNOUNCE_HOST = '127.0.0.1';
      for (const name of ['MODEL_DIR', 'REFERENCE_MODEL_DIR', 'MODEL_DIRS'])
        if (env[name]) env[name] = env[name].replace(/^\/models/, models);
      const child = spawn('node', [`dist/services/${service}/src/main.js`], {
        cwd: appDir(service),
        env: { PATH: process.env.PATH, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output: string[] = [];
      child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      running.push({ service, child, httpPort, output });
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(
      running.map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
    await infra?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }, 30_000);

  it('brings every service to ready', async () => {
    for (const { service, httpPort, child, output } of running) {
      await expectEventually(
        async () => {
          if (child.exitCode !== null)
            throw new Error(`${service} exited ${child.exitCode}:\n${output.join('').slice(-2000)}`);
          const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
          expect({ service, status: response.status }).toEqual({ service, status: 200 });
        },
        60_000,
        250,
      );
    }
  }, 90_000);

  it("answers the chart's helm test request through gateway, validator and miner", async () => {
    const testPod = render({
      valueFiles: [ciValues('minimal-cpu')],
      showOnly: 'templates/tests/chat-request.yaml',
    })[0];
    const script = podSpecOf(testPod).containers[0].command![2];
    const gateway = running.find((r) => r.service === 'gateway')!;
    const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn('node', ['-e', script], {
        env: {
          PATH: process.env.PATH,
          GATEWAY_URL: `http://127.0.0.1:${gateway.httpPort}`,
          CHAT_MODEL: '',
          TIMEOUT_MS: '60000',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('exit', (code) => resolve({ code, output }));
    });
    expect(result.output).toMatch(/chat ok: model=\S+ completion_tokens=\d+ content=".+"/);
    expect(result.code).toBe(0);
  }, 90_000);

  it('reports the NATS and Redis readiness checks as metrics', async () => {
    for (const { service, httpPort } of running) {
      const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      expect(text).toMatch(
        new RegExp(`^chattensor_readiness_check_ok\\{check="nats",service="${service}"\\} 1$`, 'm'),
      );
      if (compose.services[service].environment.REDIS_URL) {
        expect(text).toMatch(
          new RegExp(`^chattensor_readiness_check_ok\\{check="redis",service="${service}"\\} 1$`, 'm'),
        );
      }
    }
  });

  it('exposes, live, every series the dashboards, alerts and autoscalers use', async () => {
    const scraped = await Promise.all(
      running.map(async ({ service, httpPort }) =>
        metricsInExposition(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(), service),
      ),
    );
    // The subtensor feature of the chain-indexer does not load in standalone mode: its
    // metrics are checked against their declarations only (metrics-contract.spec.ts).
    const subtensorOnly = metricsDeclaredInSources().filter((m) => m.origin.includes('/subtensor/'));
    const live = index([...scraped.flat(), ...subtensorOnly]);
    const missing = allQueries()
      .flatMap((use) => problems(use, live))
      .filter((problem) => problem.includes('is not exported'));
    expect(missing).toEqual([]);
  });

  it('raises no alert and fills every dashboard panel that applies to standalone mode, scraped by Prometheus', async () => {
    // The chart's rules as the compose Prometheus loads them, the labels the chart's PodMonitor gives.
    const prometheus = await startPrometheus(
      scratch,
      running.map(({ service, httpPort }) => ({
        address: `127.0.0.1:${httpPort}`,
        labels: { component: service, namespace: 'chattensor', pod: `${service}-0` },
      })),
      [join(repoRoot, 'deploy/prometheus/alerts.yml')],
    );
    try {
      await expectEventually(
        async () =>
          expect(await prometheus.query('count(up == 1)')).toEqual([
            expect.objectContaining({ value: [expect.any(Number), String(running.length)] }),
          ]),
        60_000,
        500,
      );
      // Traffic while Prometheus watches, so that rates and histograms have samples on both sides.
      const gateway = running.find((r) => r.service === 'gateway')!;
      const models = (await (await fetch(`http://127.0.0.1:${gateway.httpPort}/v1/models`)).json()) as {
        data: { id: string }[];
      };
      const model = models.data[0].id;
      for (const stream of [false, true, false]) {
        const response = await fetch(`http://127.0.0.1:${gateway.httpPort}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            model,
            messages: [{ role: 'user', content: 'Hello' }],
            max_tokens: 8,
            stream,
          }),
        });
        expect(response.status).toBe(200);
        await response.text();
      }
      // Several scrapes and rule evaluations after the traffic.
      const after = Date.now() / 1000 + 3;
      await expectEventually(
        async () => {
          const groups = (await prometheus.get<{ groups: RuleGroupState[] }>('/api/v1/rules')).groups;
          const rules = groups.flatMap((g) => g.rules);
          expect(rules.length).toBeGreaterThan(8);
          for (const rule of rules) {
            expect({ rule: rule.name, health: rule.health, error: rule.lastError }).toEqual({
              rule: rule.name,
              health: 'ok',
              error: undefined,
            });
            expect(Date.parse(rule.lastEvaluation) / 1000).toBeGreaterThan(after);
          }
        },
        60_000,
        500,
      );

      // Pending is enough to fail: the condition of a rule is true on a healthy stack.
      const alerts = (await prometheus.get<{ alerts: AlertState[] }>('/api/v1/alerts')).alerts;
      expect(alerts.map((a) => `${a.labels.alertname} ${a.state}`)).toEqual([]);

      const empty = new Set<string>();
      for (const use of dashboardQueries().filter((u) => !u.where.includes('variable'))) {
        const expr = use.expr
          .replace(/\$__rate_interval|\$__interval|\$__range/g, '1m')
          .replace(/\$\{?namespace\}?/g, 'chattensor');
        if ((await prometheus.query(expr)).length === 0) empty.add(use.where);
      }
      expect([...empty].sort()).toEqual(Object.keys(EMPTY_IN_STANDALONE).sort());
    } finally {
      await prometheus.stop();
    }
  }, 180_000);
});

/** Dashboard panels that have no data on a healthy standalone stack, and why. */
const EMPTY_IN_STANDALONE: Record<string, string> = {
  'chain.json: Block height': 'the Subtensor follower only (chain mode)',
  'chain.json: Sync lag': 'the Subtensor follower only (chain mode)',
  'chain.json: Connected to the Subtensor node': 'the Subtensor follower only (chain mode)',
  'chain.json: Skipped blocks': 'the Subtensor follower only (chain mode)',
  'chain.json: Snapshot latency (p95)': 'the Subtensor follower only (chain mode)',
  'miners.json: Axon requests by status': 'the public miner endpoint is served in chain mode only',
  'miners.json: Axon request duration (p95)': 'the public miner endpoint is served in chain mode only',
  'miners.json: serve_axon requests by outcome': 'miners register on chain in chain mode only',
  'miners.json: Public API requests by status': 'the public miner endpoint is served in chain mode only',
  'miners.json: serve_axon signing requests': 'miners register on chain in chain mode only',
  'chain.json: Subnet gone (validators)': 'counts a dissolved or re-registered subnet: the chain only',
  'verification.json: Failed verifications by miner':
    'counts failed verifications: empty while every miner is honest',
  'verification.json: Failed verifications by reason':
    'counts failed verifications: empty while every miner is honest',
  'overview.json: Failovers': 'answers asked again after their miner failed: empty while no miner fails',
  'overview.json: Failing readiness checks': 'lists failing checks: empty while every check passes',
};
