import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { parse } from 'yaml';
import { SERVICES, readRepoFile, repoRoot } from './support/chart';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  read_only?: boolean;
  cap_drop?: string[];
}

const composeText = readRepoFile('deploy/docker-compose.yml');
const compose = parse(composeText, { merge: true }) as { services: Record<string, ComposeService> };

const dockerfiles = [
  ...SERVICES.map((service) => ({ service, path: `deploy/${service}/Dockerfile` })),
  { service: 'miner' as const, path: 'deploy/miner/Dockerfile.cuda' },
];

/** Docker's .dockerignore semantics, as far as this repository's patterns need: later lines win, `!` re-includes. */
function ignoredByDockerignore(path: string): boolean {
  const patterns = readRepoFile('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = negate ? raw.slice(1) : raw;
    const regex = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\//g, '@@GLOBSTAR@@')
        .replace(/\*/g, '[^/]*')
        .replace(/@@GLOBSTAR@@/g, '(?:.*/)?')}(?:/.*)?$`,
    );
    if (regex.test(path)) ignored = !negate;
  }
  return ignored;
}

describe('container images', () => {
  it.each(dockerfiles)(
    '$path builds in stages and runs production dependencies only, unprivileged, with a HEALTHCHECK',
    ({ service, path }) => {
      const text = readRepoFile(path);
      expect(text.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(3);
      expect(text).toMatch(/npm ci --omit=dev/);
      // The runtime stage copies node_modules from the production stage, never from the build stage.
      const runtime = text.slice(text.lastIndexOf('\nFROM '));
      expect(runtime).toMatch(/COPY --from=prod-deps \/src\/node_modules/);
      expect(runtime).not.toMatch(/COPY --from=build \/src\/node_modules/);
      expect(runtime).toMatch(/^USER (node|1000:1000)$/m);
      expect(runtime).toMatch(/^HEALTHCHECK .*healthcheck\.js/m);
      const main = /^CMD \["node", "dist\/(services\/[a-z-]+\/src\/main)\.js"\]$/m.exec(runtime)?.[1];
      expect(main).toBe(`services/${service}/src/main`);
      expect(existsSync(join(repoRoot, `${main}.ts`))).toBe(true);
    },
  );

  it('builds the GPU miner on a CUDA runtime image whose CUDA major version is the one of the provider it installs', () => {
    const text = readRepoFile('deploy/miner/Dockerfile.cuda');
    const cudaMajor =
      /^ARG CUDA_IMAGE=nvidia\/cuda:(\d+)\.[0-9.]+-cudnn-runtime-\S+@sha256:[0-9a-f]{64}$/m.exec(text)?.[1];
    const ortCuda = /^ARG ORT_CUDA=(cuda\d+)$/m.exec(text)?.[1];
    expect(ortCuda).toBe(`cuda${cudaMajor}`);
    // The CUDA builds onnxruntime-node's installer knows for linux/x64 (script/install-metadata.js).
    const metadata = readFileSync(
      join(repoRoot, 'node_modules/onnxruntime-node/script/install-metadata.js'),
      'utf8',
    );
    const linuxBuilds = /'linux\/x64':\s*\[([^\]]*)\]/.exec(metadata)![1];
    expect([...linuxBuilds.matchAll(/'([^']+)'/g)].map((m) => m[1])).toContain(ortCuda);
    expect(text).toMatch(/ONNXRUNTIME_NODE_INSTALL=\$\{ORT_CUDA\} npm ci --omit=dev/);
    expect(text).toMatch(/RUN test "cuda\$\{CUDA_VERSION%%\.\*\}" = "\$\{ORT_CUDA\}"/);
    expect(text).toMatch(
      /test -f node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\/libonnxruntime_providers_cuda\.so/,
    );
  });

  it.each(dockerfiles)('$path pins every base image by digest, on the Node.js of .nvmrc', ({ path }) => {
    const text = readRepoFile(path);
    const images = [...text.matchAll(/^ARG \w+_IMAGE=(\S+)$/gm)].map((m) => m[1]);
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) expect(image).toMatch(/^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/);
    // Every FROM names one of those ARGs or an earlier stage, never a floating tag.
    for (const [, from] of text.matchAll(/^FROM (\S+)/gm))
      expect(from).toMatch(/^\$\{\w+_IMAGE\}$|^[a-z-]+$/);
    const node = images.find((i) => i.startsWith('node:'))!;
    expect(node.split(':')[1].split('-')[0]).toBe(readRepoFile('.nvmrc').trim());
    const lts = Number(readRepoFile('.nvmrc').split('.')[0]);
    expect(lts % 2).toBe(0);
    expect(lts).toBeGreaterThanOrEqual(24);
  });

  it.each(dockerfiles)('$path reduces its node_modules to what its service requires', ({ service, path }) => {
    const text = readRepoFile(path);
    const prodStage = text.slice(text.indexOf(' AS prod-deps'));
    const prune =
      /^RUN node prune-node-modules\.mjs --node-modules node_modules --platform linux\/x64 (.+)$/m.exec(
        prodStage,
      );
    expect(prune?.[1].split(' ')).toContain(`dist/services/${service}/src/main.js`);
  });

  describe('application layers, as the deploy checks assemble them', () => {
    const reportPath = process.env.DEPLOY_IMAGES_REPORT;
    type Image = { packages: string[]; nativeBinaryFolders: string[]; nodeModulesBytes: number };
    const report: Record<string, Image> = reportPath
      ? (JSON.parse(readFileSync(reportPath, 'utf8')) as Record<string, Image>)
      : {};
    const run = reportPath ? it : it.skip;
    // Development tools, which nothing in production depends on.
    const devTools = [
      'jest',
      'typescript',
      'eslint',
      '@swc/core',
      'nx',
      'testcontainers',
      'playwright-core',
      'esbuild',
      '@huggingface/transformers',
    ];

    run('hold onnxruntime-node only where the service runs a model, with linux-x64 binaries only', () => {
      expect(Object.keys(report).sort()).toEqual([...SERVICES].sort());
      expect(report.gateway.packages).not.toContain('onnxruntime-node');
      expect(report['chain-indexer'].packages).not.toContain('onnxruntime-node');
      expect(report.miner.packages).toContain('onnxruntime-node');
      // The validator verifies answers with the reference model.
      expect(report.validator.packages).toContain('onnxruntime-node');
      for (const image of Object.values(report))
        for (const folder of image.nativeBinaryFolders) expect(folder).toMatch(/\/linux\/x64$/);
      expect(report.miner.nativeBinaryFolders).toEqual(['onnxruntime-node/bin/napi-v6/linux/x64']);
    });

    run('hold no development tool, and the gateway less than the miner', () => {
      for (const [name, image] of Object.entries(report)) {
        expect({ name, dev: image.packages.filter((p) => devTools.includes(p)) }).toEqual({
          name,
          dev: [],
        });
      }
      expect(report.gateway.nodeModulesBytes).toBeLessThan(report.miner.nodeModulesBytes);
      expect(report.gateway.packages).not.toContain('@polkadot/api');
    });
  });

  it('keeps every file the Dockerfiles copy in the build context', () => {
    for (const { path } of dockerfiles) {
      const sources = [...readRepoFile(path).matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)].flatMap(
        (m) => m[1].split(/\s+/),
      );
      for (const source of sources) {
        expect({ source, ignored: ignoredByDockerignore(source) }).toEqual({ source, ignored: false });
        expect(existsSync(join(repoRoot, source))).toBe(true);
      }
    }
    expect(ignoredByDockerignore('node_modules')).toBe(true);
    expect(ignoredByDockerignore('libs/common/src/health/readiness.registry.spec.ts')).toBe(true);
  });
});

describe('docker compose stack', () => {
  it('follows the compose specification', () => {
    const schemaPath = process.env.COMPOSE_SCHEMA;
    if (!schemaPath)
      throw new Error('COMPOSE_SCHEMA is not set: run the deploy tests through scripts/deploy-checks.sh');
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')) as object);
    // The schema describes the file as written, anchors and merge keys resolved.
    const valid = validate(parse(composeText, { merge: true }));
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('runs NATS with JetStream and Redis with an append-only file, both on volumes', () => {
    const { nats, redis } = compose.services;
    expect(nats.command).toContain('--jetstream');
    expect(nats.volumes).toContain('nats-data:/data');
    expect(redis.command!.join(' ')).toMatch(/--appendonly yes/);
    expect(redis.volumes).toContain('redis-data:/data');
  });

  it('starts the services hardened and only after what they depend on is healthy', () => {
    for (const name of ['gateway', 'validator', 'miner', 'chain-indexer']) {
      const service = compose.services[name];
      expect(service.read_only).toBe(true);
      expect(service.cap_drop).toEqual(['ALL']);
      expect(service.depends_on?.nats).toEqual({ condition: 'service_healthy' });
    }
    expect(compose.services.miner.depends_on?.model).toEqual({ condition: 'service_completed_successfully' });
  });

  it('scrapes every service on the port it serves metrics on, with the labels the chart relabelling gives', () => {
    const prometheus = parse(readRepoFile('deploy/prometheus/prometheus.yml')) as {
      scrape_configs: {
        static_configs: { targets: string[]; labels: { component: string; namespace: string } }[];
      }[];
    };
    const targets = prometheus.scrape_configs.flatMap((c) => c.static_configs);
    for (const name of SERVICES) {
      const target = targets.find((t) => t.labels.component === name && t.targets[0].startsWith(`${name}:`));
      expect(target?.targets).toEqual([`${name}:${compose.services[name].environment!.HTTP_PORT}`]);
      expect(target?.labels.namespace).toBe('chattensor');
    }
  });

  it('provisions Grafana with the chart dashboards and Prometheus with the chart rules', () => {
    const grafana = compose.services.grafana;
    expect(grafana.volumes).toContain(
      '../helm/chattensor/dashboards:/var/lib/grafana/dashboards/chattensor:ro',
    );
    expect(compose.services.prometheus.volumes).toContain(
      './prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro',
    );
    expect(readRepoFile('deploy/prometheus/alerts.yml')).toMatch(
      /^# Rendered from the Helm chart's PrometheusRule/,
    );
  });
});
