import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMinerConfig } from '../../services/miner/src/config/miner.config';
import {
  ciValues,
  find,
  only,
  podSpecOf,
  render,
  renderError,
  specOf,
  type Container,
  type Manifest,
} from './support/chart';

/**
 * The public miner endpoint in chain mode, from the chart alone: the port the
 * miner listens on (AXON_PORT, read by the miner's own config loader), the port
 * its Service or node exposes, the port its NetworkPolicy admits from anywhere,
 * and the address and port it registers on chain with serve_axon must agree,
 * or validators dial a port nothing answers on.
 */
const NODE_IP = '198.51.100.20';
const PUBLIC_IP = '203.0.113.10';

interface ServicePort {
  name: string;
  port: number;
  targetPort: string | number;
  nodePort?: number;
}
interface ServiceSpec {
  type?: string;
  clusterIP?: string;
  ports: ServicePort[];
}
interface Peer {
  podSelector?: { matchLabels: Record<string, string> };
  ipBlock?: { cidr: string };
}
interface PolicyRule {
  from?: Peer[];
  to?: Peer[];
  ports?: { port: number }[];
}
interface PolicySpec {
  ingress?: PolicyRule[];
  egress?: PolicyRule[];
}

const scratch = mkdtempSync(join(tmpdir(), 'chattensor-miner-endpoint-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The miner's config as its main.ts loads it from the rendered container's env. */
function minerConfigOf(container: Container) {
  const env: Record<string, string> = {};
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) env[entry.name] = entry.value;
    else if (entry.valueFrom?.fieldRef?.fieldPath === 'status.hostIP') env[entry.name] = NODE_IP;
    else if (entry.valueFrom?.secretKeyRef) env[entry.name] = entry.name === 'HOTKEY_URI' ? '//Alice' : 'x';
  }
  const modelDir = join(scratch, env.MODEL_DIR);
  mkdirSync(modelDir, { recursive: true });
  writeFileSync(join(modelDir, 'config.json'), '{}');
  return loadMinerConfig({ ...env, MODEL_DIR: modelDir });
}

function chainMode(set: Record<string, string | number | boolean>): Manifest[] {
  return render({ valueFiles: [ciValues('gpu-miners')], set });
}

const axonContainerPort = (container: Container) => container.ports?.find((p) => p.name === 'axon');

/** Ports admitted to the miners from every address (validators anywhere). */
function publiclyAdmittedPorts(manifests: Manifest[]): number[] {
  const policy = specOf<PolicySpec>(only(manifests, 'NetworkPolicy', 'miner'));
  return (policy.ingress ?? [])
    .filter((rule) => rule.from?.some((peer) => peer.ipBlock?.cidr === '0.0.0.0/0'))
    .flatMap((rule) => (rule.ports ?? []).map((p) => p.port));
}

describe('the public miner endpoint in chain mode', () => {
  describe.each([
    [
      'LoadBalancer',
      {
        'miner.axon.expose': 'LoadBalancer',
        'miner.axon.externalIP': PUBLIC_IP,
        'miner.axon.service.port': 443,
      },
    ],
    [
      'NodePort',
      {
        'miner.axon.expose': 'NodePort',
        'miner.axon.externalIP': NODE_IP,
        'miner.axon.service.nodePort': 30991,
      },
    ],
    [
      'hostPort',
      { 'miner.axon.expose': 'hostPort', 'miner.axon.externalIP': '', 'miner.axon.hostPort': 9091 },
    ],
    [
      'LoadBalancer with a non-default container port',
      { 'miner.axon.expose': 'LoadBalancer', 'miner.axon.externalIP': PUBLIC_IP, 'miner.axon.port': 18091 },
    ],
  ])('exposed as %s', (expose, set) => {
    const manifests = chainMode(set);
    const container = podSpecOf(only(manifests, 'Deployment', 'miner')).containers[0];
    const config = minerConfigOf(container);

    it('serves the axon on the container port named axon', () => {
      expect(config.chainMode).toBe('subtensor');
      expect(config.axon.enabled).toBe(true);
      expect(axonContainerPort(container)?.containerPort).toBe(config.axon.port);
    });

    it('registers on chain the address and port its Service or node exposes', () => {
      expect(config.serveAxon).toBeDefined();
      const registered = config.serveAxon!;
      if (expose.startsWith('hostPort')) {
        expect(registered.ip).toBe(NODE_IP);
        expect(axonContainerPort(container)?.hostPort).toBe(registered.port);
        expect(find(manifests, 'Service', 'miner').filter((s) => s.metadata.name.endsWith('-axon'))).toEqual(
          [],
        );
        return;
      }
      const service = only(
        find(manifests, 'Service', 'miner').filter((s) => s.metadata.name.endsWith('-axon')),
        'Service',
      );
      const spec = specOf<ServiceSpec>(service);
      expect(spec.type).toBe(expose.split(' ')[0]);
      const port = spec.ports.find((p) => p.targetPort === 'axon')!;
      expect(expose.startsWith('NodePort') ? port.nodePort : port.port).toBe(registered.port);
      expect(registered.ip).toBe(set['miner.axon.externalIP']);
    });

    it('admits validators from any address on the port the miner listens on', () => {
      expect(publiclyAdmittedPorts(manifests)).toEqual([config.axon.port]);
    });

    it('lets the release’s validators and its headless Service reach the same port', () => {
      const headless = specOf<ServiceSpec>(
        only(
          find(manifests, 'Service', 'miner').filter((s) => s.metadata.name.endsWith('-headless')),
          'Service',
        ),
      );
      expect(headless.ports.find((p) => p.name === 'axon')).toMatchObject({
        port: config.axon.port,
        targetPort: 'axon',
      });
      const validatorEgress = specOf<PolicySpec>(only(manifests, 'NetworkPolicy', 'validator')).egress ?? [];
      const toMiners = validatorEgress.filter((rule) =>
        rule.to?.some((peer) => peer.podSelector?.matchLabels['app.kubernetes.io/component'] === 'miner'),
      );
      expect(toMiners.flatMap((rule) => (rule.ports ?? []).map((p) => p.port))).toContain(config.axon.port);
    });

    it('is ready only with the axon listening, and not declared failed while the model loads', () => {
      expect(container.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
      const deployment = specOf<{ progressDeadlineSeconds: number }>(only(manifests, 'Deployment', 'miner'));
      const startWindow = container.startupProbe!.periodSeconds * container.startupProbe!.failureThreshold;
      expect(deployment.progressDeadlineSeconds).toBeGreaterThan(startWindow);
    });
  });

  it('registers the address the cloud gives its LoadBalancer Service when no externalIP is set', () => {
    const manifests = chainMode({ 'miner.axon.expose': 'LoadBalancer', 'miner.axon.externalIP': '' });
    const pod = podSpecOf(only(manifests, 'Deployment', 'miner')) as ReturnType<typeof podSpecOf> & {
      automountServiceAccountToken?: boolean;
      serviceAccountName?: string;
    };
    const config = minerConfigOf(pod.containers[0]);
    expect(config.serveAxon).toBeUndefined();
    const [namespace, name] = config.serveAxonService!.split('/');
    const service = find(manifests, 'Service', 'miner').find((s) => s.metadata.name === name)!;
    expect(namespace).toBe('chattensor');
    expect(specOf<ServiceSpec>(service).ports.find((p) => p.name === 'axon')?.targetPort).toBe('axon');
    expect(axonContainerPort(pod.containers[0])?.containerPort).toBe(config.axon.port);
    // The pod may read that Service, and only it.
    expect(pod.automountServiceAccountToken).toBe(true);
    type Role = { rules: { resources: string[]; resourceNames: string[]; verbs: string[] }[] };
    expect((only(manifests, 'Role', 'miner') as unknown as Role).rules).toEqual([
      { apiGroups: [''], resources: ['services'], resourceNames: [name], verbs: ['get'] },
    ]);
    type Binding = { subjects: { kind: string; name: string }[] };
    expect((only(manifests, 'RoleBinding', 'miner') as unknown as Binding).subjects).toEqual([
      expect.objectContaining({ kind: 'ServiceAccount', name: pod.serviceAccountName }),
    ]);
  });

  it('refuses a chain-mode miner that validators could not reach', () => {
    expect(
      renderError({
        valueFiles: [ciValues('gpu-miners')],
        set: { 'miner.axon.expose': 'none', 'miner.axon.externalIP': '' },
      }),
    ).toMatch(/set miner.axon.expose/);
    expect(
      renderError({
        valueFiles: [ciValues('gpu-miners')],
        set: { 'miner.axon.expose': 'NodePort', 'miner.axon.externalIP': '' },
      }),
    ).toMatch(/miner.axon.expose=NodePort needs miner.axon.externalIP/);
  });

  it('exposes nothing publicly in standalone mode', () => {
    const manifests = render({ valueFiles: [ciValues('minimal-cpu')] });
    expect(publiclyAdmittedPorts(manifests)).toEqual([]);
    const container = podSpecOf(only(manifests, 'Deployment', 'miner')).containers[0];
    expect(minerConfigOf(container).serveAxon).toBeUndefined();
  });
});
