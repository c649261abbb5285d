import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { z } from 'zod';
import {
  chainIndexerEnvSchema,
  loadChainIndexerConfig,
} from '../../services/chain-indexer/src/config/chain-indexer.config';
import {
  loadSubtensorConfig,
  subtensorEnvSchema,
} from '../../services/chain-indexer/src/subtensor/subtensor.config';
import { gatewayEnvSchema, loadGatewayConfig } from '../../services/gateway/src/config/gateway.config';
import { loadMinerConfig, minerEnvSchema } from '../../services/miner/src/config/miner.config';
import {
  loadValidatorConfig,
  validatorEnvSchema,
} from '../../services/validator/src/config/validator.config';
import {
  SERVICES,
  ciValueFiles,
  find,
  podSpecOf,
  render,
  repoRoot,
  type Container,
  type ServiceName,
} from './support/chart';

type Env = Record<string, string>;

/** What each service validates at start: its schemas and the loader main.ts runs. */
const contracts: Record<ServiceName, { schemas: z.ZodObject<z.ZodRawShape>[]; load: (env: Env) => unknown }> =
  {
    gateway: { schemas: [gatewayEnvSchema], load: (env) => loadGatewayConfig(env) },
    validator: { schemas: [validatorEnvSchema], load: (env) => loadValidatorConfig(withModelFolder(env)) },
    miner: { schemas: [minerEnvSchema], load: (env) => loadMinerConfig(withModelFolder(env)) },
    'chain-indexer': {
      schemas: [chainIndexerEnvSchema, subtensorEnvSchema],
      load: (env) =>
        env.CHAIN_MODE === 'subtensor'
          ? [loadChainIndexerConfig(env), loadSubtensorConfig(env)]
          : loadChainIndexerConfig(env),
    },
  };

/**
 * The miner checks at start that MODEL_DIR holds a model, the validator that
 * REFERENCE_MODEL_DIR does. The folder exists in the pod (a volume); here an
 * empty model folder stands in for it at the same absolute path below a
 * scratch root.
 */
const scratch = mkdtempSync(join(tmpdir(), 'chattensor-deploy-'));
function withModelFolder(env: Env): Env {
  const out = { ...env };
  for (const variable of ['MODEL_DIR', 'REFERENCE_MODEL_DIR']) {
    if (!env[variable]?.startsWith('/')) continue;
    const dir = join(scratch, env[variable]);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), '{}');
    out[variable] = dir;
  }
  return out;
}

const knownVariables = (service: ServiceName) =>
  new Set(contracts[service].schemas.flatMap((schema) => Object.keys(schema.shape)));

/** Variables with no default that the schema refuses to leave unset. */
const requiredVariables = (service: ServiceName) =>
  contracts[service].schemas.flatMap((schema) =>
    Object.entries(schema.shape)
      .filter(([, field]) => !(field as z.ZodType).safeParse(undefined).success)
      .map(([name]) => name),
  );

/**
 * Variables whose code default (127.0.0.1, a port the container does not
 * expose) is wrong in a container: a deployment must always set them.
 */
const WIRING: Record<ServiceName, string[]> = {
  gateway: ['NATS_URL', 'REDIS_URL', 'HTTP_HOST', 'HTTP_PORT', 'CHAIN_MODE', 'NETUID'],
  validator: ['NATS_URL', 'REDIS_URL', 'HTTP_HOST', 'HTTP_PORT', 'CHAIN_MODE', 'NETUID'],
  miner: [
    'NATS_URL',
    'HTTP_HOST',
    'HTTP_PORT',
    'GRPC_HOST',
    'GRPC_PORT',
    'ANNOUNCE_HOST',
    'AXON_HOST',
    'AXON_PORT',
    'MODEL_DIR',
    'MINER_DEVICE',
    'CHAIN_MODE',
    'NETUID',
  ],
  'chain-indexer': ['NATS_URL', 'REDIS_URL', 'HTTP_HOST', 'HTTP_PORT', 'CHAIN_MODE', 'NETUID'],
};

/** Read by Node.js itself, not by the service: the CA of the in-chart NATS and Redis (tls.enabled). */
const NODE_RUNTIME_VARIABLES = ['NODE_EXTRA_CA_CERTS'];

// Values a Secret or the pod's status would supply at run time; shaped like real ones so the schemas can check everything else.
const SECRET_STAND_INS: Env = {
  HOTKEY_URI: '//Alice',
  ADMIN_TOKEN: 'admin-token-from-a-secret-0123456789',
  NATS_URL: 'nats://nats.example.internal:4222',
  REDIS_URL: 'redis://:password@redis.example.internal:6379',
  NATS_TOKEN: 'nats-token-from-a-secret',
  NATS_NKEY_SEED: `SU${'A'.repeat(56)}`,
  REDIS_PASSWORD: 'redis-password-from-a-secret',
  // The node's address (status.hostIP) a hostPort miner registers.
  AXON_EXTERNAL_IP: '198.51.100.20',
};

function chartEnv(container: Container): Env {
  const env: Env = {};
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) env[entry.name] = entry.value;
    else if (entry.valueFrom && SECRET_STAND_INS[entry.name]) env[entry.name] = SECRET_STAND_INS[entry.name];
    else
      throw new Error(
        `${entry.name} comes from ${JSON.stringify(entry.valueFrom)}, which this test cannot stand in for`,
      );
  }
  return env;
}

interface Deployment {
  where: string;
  service: ServiceName;
  env: Env;
}

function chartDeployments(): Deployment[] {
  return ciValueFiles.flatMap(({ name, path }) => {
    const manifests = render({ valueFiles: [path] });
    return SERVICES.flatMap((service) =>
      find(manifests, 'Deployment', service).map((deployment) => {
        const container = podSpecOf(deployment).containers.find((c) => c.name === service);
        if (!container) throw new Error(`ci/${name}: the ${service} Deployment has no ${service} container`);
        return { where: `chart ci/${name}`, service, env: chartEnv(container) };
      }),
    );
  });
}

const compose = parse(readFileSync(join(repoRoot, 'deploy/docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<
    string,
    { image?: string; environment?: Record<string, string | number>; entrypoint?: unknown }
  >;
};

/** Compose services that run a ChatTensor service's main (the image says which). */
function composeDeployments(): Deployment[] {
  return Object.entries(compose.services).flatMap(([name, definition]) => {
    const service = SERVICES.find((s) => definition.image?.match(new RegExp(`^chattensor/${s}(-cuda)?:`)));
    if (!service || definition.entrypoint) return [];
    const env = Object.fromEntries(
      Object.entries(definition.environment ?? {}).map(([k, v]) => [k, String(v)]),
    );
    return [{ where: `compose ${name}`, service, env }];
  });
}

const deployments = [...chartDeployments(), ...composeDeployments()];

describe('environment of the deployed services', () => {
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('covers every service in the chart and in the compose file', () => {
    for (const service of SERVICES) {
      expect(
        deployments.filter((d) => d.service === service && d.where.startsWith('chart')).length,
      ).toBeGreaterThan(0);
      expect(
        deployments.filter((d) => d.service === service && d.where.startsWith('compose')).length,
      ).toBeGreaterThan(0);
    }
  });

  it.each(deployments.map((d) => [d.where, d.service, d] as const))(
    '%s sets only variables %s validates',
    (_where, service, d) => {
      const unknown = Object.keys(d.env).filter(
        (name) => !knownVariables(service).has(name) && !NODE_RUNTIME_VARIABLES.includes(name),
      );
      expect(unknown).toEqual([]);
    },
  );

  it.each(deployments.map((d) => [d.where, d.service, d] as const))(
    '%s sets every variable %s requires and every wiring variable',
    (_where, service, d) => {
      const missing = [...requiredVariables(service), ...WIRING[service]].filter((name) => !(name in d.env));
      expect(missing).toEqual([]);
    },
  );

  it.each(deployments.map((d) => [d.where, d.service, d] as const))(
    '%s gives values %s accepts at start',
    (_where, service, d) => {
      expect(() => contracts[service].load(d.env)).not.toThrow();
      if (d.env.MODEL_DIR !== undefined) expect(d.env.MODEL_DIR).toMatch(/^\//);
    },
  );
});
