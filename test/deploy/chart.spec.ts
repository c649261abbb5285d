import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  ciValueFiles,
  ciValues,
  chartDir,
  find,
  only,
  podSpecOf,
  readRepoFile,
  render,
  renderError,
  specOf,
  workloads,
  type Container,
  type Manifest,
  type WorkloadSpec,
} from './support/chart';

const APP_COMPONENTS = ['gateway', 'validator', 'miner', 'chain-indexer'];

const componentOf = (m: Manifest) => m.metadata.labels?.['app.kubernetes.io/component'] ?? '';
const env = (container: Container, name: string) => container.env?.find((e) => e.name === name);
const mainContainer = (manifest: Manifest) => podSpecOf(manifest).containers[0];

describe('helm chart', () => {
  const rendered = new Map(ciValueFiles.map(({ name, path }) => [name, render({ valueFiles: [path] })]));
  const everySet = [...rendered.entries()];

  describe.each(everySet)('value set %s', (_name, manifests) => {
    it('runs every ChatTensor container unprivileged on a read-only root file system with resources and probes', () => {
      for (const workload of workloads(manifests).filter((w) => APP_COMPONENTS.includes(componentOf(w)))) {
        const pod = podSpecOf(workload);
        expect(pod.securityContext).toMatchObject({
          runAsNonRoot: true,
          seccompProfile: { type: 'RuntimeDefault' },
        });
        for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
          expect(container.securityContext).toMatchObject({
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          });
          expect(container.resources?.requests).toBeDefined();
        }
        expect(pod.containers[0].livenessProbe?.httpGet?.path).toBe('/healthz');
        expect(pod.containers[0].readinessProbe?.httpGet?.path).toBe('/readyz');
      }
    });

    it('keeps the chain-indexer a single writer that is stopped before its replacement starts', () => {
      if (find(manifests, 'Deployment', 'chain-indexer').length === 0) return;
      const deployment = only(manifests, 'Deployment', 'chain-indexer');
      expect(specOf<WorkloadSpec>(deployment)).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' } });
      expect(find(manifests, 'HorizontalPodAutoscaler', 'chain-indexer')).toEqual([]);
    });

    it('serves HTTP_PORT on the container port probes and Prometheus use', () => {
      for (const deployment of find(manifests, 'Deployment').filter((d) =>
        APP_COMPONENTS.includes(componentOf(d)),
      )) {
        const container = mainContainer(deployment);
        const http = container.ports?.find((p) => p.name === 'http');
        expect(String(http?.containerPort)).toBe(env(container, 'HTTP_PORT')?.value);
      }
    });

    it('lets only the expected peers reach NATS, Redis and the miners', () => {
      const policies = find(manifests, 'NetworkPolicy');
      if (policies.length === 0) return;
      type Peer = { podSelector?: { matchLabels: Record<string, string> }; ipBlock?: { cidr: string } };
      type Policy = { ingress: { from?: Peer[]; ports?: { port: number }[] }[] };
      const peersOf = (component: string, port: number) =>
        specOf<Policy>(only(policies, 'NetworkPolicy', component))
          .ingress.filter((rule) => rule.ports?.some((p) => p.port === port))
          .flatMap((rule) => rule.from ?? [])
          .map(
            (peer) =>
              peer.podSelector?.matchLabels['app.kubernetes.io/component'] ?? `ipBlock ${peer.ipBlock?.cidr}`,
          )
          .sort();
      if (find(manifests, 'StatefulSet', 'redis').length > 0) {
        // With Sentinel, the replicas also read from the primary.
        const replicas = find(manifests, 'ConfigMap', 'redis').some((c) => c.data?.['start-sentinel.sh']);
        expect(peersOf('redis', 6379)).toEqual(
          replicas
            ? ['chain-indexer', 'gateway', 'redis', 'validator']
            : ['chain-indexer', 'gateway', 'validator'],
        );
      }
      if (find(manifests, 'StatefulSet', 'nats').length > 0) {
        expect(peersOf('nats', 4222)).toEqual(['chain-indexer', 'gateway', 'miner', 'validator']);
      }
      if (find(manifests, 'Deployment', 'miner').length > 0) {
        // gRPC stays inside the release; only the public axon port (chain mode) admits any address.
        expect(peersOf('miner', 50051)).toEqual(['validator']);
        const axonPort = mainContainer(only(manifests, 'Deployment', 'miner')).ports!.find(
          (p) => p.name === 'axon',
        )!;
        const publicAxon =
          env(mainContainer(only(manifests, 'Deployment', 'miner')), 'AXON_EXTERNAL_IP') !== undefined;
        expect(peersOf('miner', axonPort.containerPort)).toEqual(
          publicAxon ? ['ipBlock 0.0.0.0/0', 'ipBlock ::/0', 'validator'] : ['validator'],
        );
      }
      // Every pod the chart runs is covered by a policy of its own component.
      for (const workload of workloads(manifests)) {
        expect(find(policies, 'NetworkPolicy', componentOf(workload))).toHaveLength(1);
      }
    });

    it('never puts a hotkey secret into a plain env value outside standalone mode', () => {
      const chainMode = env(mainContainer(find(manifests, 'Deployment')[0]), 'CHAIN_MODE')?.value;
      if (chainMode !== 'subtensor') return;
      for (const workload of workloads(manifests)) {
        for (const container of podSpecOf(workload).containers) {
          const uri = env(container, 'HOTKEY_URI');
          if (uri) expect(uri.value).toBeUndefined();
        }
      }
    });
  });

  it('puts miners on GPU nodes with the CUDA image, the GPU resource and a start window for loading the model', () => {
    const manifests = rendered.get('gpu-miners')!;
    const miner = only(manifests, 'Deployment', 'miner');
    const pod = podSpecOf(miner);
    const container = pod.containers[0];
    expect(container.image).toMatch(/\/miner-cuda:/);
    expect(container.resources?.requests?.['nvidia.com/gpu']).toBe('1');
    expect(container.resources?.limits?.['nvidia.com/gpu']).toBe('1');
    expect(env(container, 'MINER_DEVICE')?.value).toBe('cuda');
    expect(pod.runtimeClassName).toBe('nvidia');
    expect(pod.tolerations).toContainEqual(expect.objectContaining({ key: 'nvidia.com/gpu' }));
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    const window = container.startupProbe!.periodSeconds * container.startupProbe!.failureThreshold;
    expect(window).toBeGreaterThanOrEqual(600);
  });

  it('mounts a wallet hotkey file read-only in the Bittensor layout and points WALLET_* at it', () => {
    const validator = only(rendered.get('gpu-miners')!, 'Deployment', 'validator');
    const pod = podSpecOf(validator);
    const container = pod.containers[0];
    const volume = pod.volumes!.find((v) => v.name === 'wallet')!;
    expect(volume.secret).toMatchObject({
      secretName: 'chattensor-validator-wallet',
      items: [{ key: 'hotkey', path: 'validator/hotkeys/default' }],
    });
    expect(container.volumeMounts).toContainEqual({ name: 'wallet', mountPath: '/wallets', readOnly: true });
    expect(env(container, 'WALLET_PATH')?.value).toBe('/wallets');
    expect(env(container, 'WALLET_NAME')?.value).toBe('validator');
    expect(env(container, 'WALLET_HOTKEY')?.value).toBe('default');
  });

  it('generates the model in an init container into the volume the miner reads', () => {
    const miner = only(rendered.get('minimal-cpu')!, 'Deployment', 'miner');
    const pod = podSpecOf(miner);
    const init = pod.initContainers!.find((c) => c.name === 'generate-model')!;
    const modelDir = env(pod.containers[0], 'MODEL_DIR')!.value;
    expect(env(init, 'MODEL_DIR')?.value).toBe(modelDir);
    expect(init.command!.join(' ')).toContain('dist/libs/inference/src/cli/generate-model.js');
    expect(pod.containers[0].volumeMounts).toContainEqual({
      name: 'model',
      mountPath: '/models',
      readOnly: true,
    });
  });

  it('scales miners with either the HPA on queued generations or a KEDA ScaledObject, and refuses both', () => {
    const keda = rendered.get('autoscaling-keda')!;
    expect(find(keda, 'ScaledObject', 'miner')).toHaveLength(1);
    expect(find(keda, 'HorizontalPodAutoscaler', 'miner')).toEqual([]);
    expect(specOf<WorkloadSpec>(only(keda, 'Deployment', 'miner')).replicas).toBeUndefined();
    const hpa = render({
      valueFiles: [ciValues('autoscaling-keda')],
      set: { 'miner.keda.enabled': false, 'miner.autoscaling.enabled': true },
    });
    expect(only(hpa, 'HorizontalPodAutoscaler', 'miner').spec).toMatchObject({
      metrics: [{ type: 'Pods', pods: { metric: { name: 'chattensor_miner_num_requests_waiting' } } }],
    });
    expect(
      renderError({ valueFiles: [ciValues('autoscaling-keda')], set: { 'miner.autoscaling.enabled': true } }),
    ).toMatch(/enable one of them/);
  });

  it.each([
    [
      'subtensor mode without a node',
      {
        'chain.mode': 'subtensor',
        'validator.hotkey.existingSecret': 'validator-hotkey',
        'miner.hotkey.existingSecret': 'miner-hotkey',
      },
      /chain.subtensorWs is required/,
    ],
    [
      'a dev hotkey in subtensor mode',
      { 'chain.mode': 'subtensor', 'chain.subtensorWs': 'ws://node:9944' },
      /devUri is for local mode only/,
    ],
    ['a validator without a hotkey', { 'validator.hotkey.devUri': '' }, /validator needs a hotkey/],
    ['an unknown chain mode', { 'chain.mode': 'mainnet' }, /value must be one of 'local', 'subtensor'/],
    ['a misspelt value', { 'gateway.replicas': 3 }, /additional properties 'replicas' not allowed/],
    [
      'a lower-case service variable',
      { 'gateway.env.log_level': 'debug' },
      /'log_level' does not match pattern/,
    ],
    [
      'external NATS without a URL',
      { 'nats.enabled': false },
      /nats.external.url or nats.external.existingSecret/,
    ],
  ])('refuses %s', (_what, set, message) => {
    expect(renderError({ valueFiles: [ciValues('minimal-cpu')], set })).toMatch(message);
  });

  it('reads external NATS and Redis URLs from Secrets and deploys neither', () => {
    const manifests = rendered.get('external-nats-redis')!;
    expect(find(manifests, 'StatefulSet')).toEqual([]);
    const gateway = mainContainer(only(manifests, 'Deployment', 'gateway'));
    expect(env(gateway, 'NATS_URL')?.valueFrom?.secretKeyRef).toEqual({
      name: 'chattensor-nats',
      key: 'url',
    });
    expect(env(gateway, 'REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({
      name: 'chattensor-redis',
      key: 'url',
    });
  });

  it('persists JetStream and the Redis append-only file when they run in the chart', () => {
    const manifests = render({ valueFiles: [ciValues('autoscaling-keda')] });
    type StatefulSetSpec = { volumeClaimTemplates: { metadata: { name: string } }[] };
    for (const component of ['nats', 'redis']) {
      expect(
        specOf<StatefulSetSpec>(only(manifests, 'StatefulSet', component)).volumeClaimTemplates[0].metadata
          .name,
      ).toBe('data');
    }
    const redisConf = only(manifests, 'ConfigMap', 'redis').data!['redis.conf'];
    expect(redisConf).toMatch(/^appendonly yes$/m);
    expect(only(manifests, 'ConfigMap', 'nats').data!['nats.conf']).toMatch(
      /jetstream \{[^}]*store_dir: \/data/,
    );
  });

  it('sends a real chat request through the gateway Service in the helm test', () => {
    const manifests = rendered.get('gpu-miners')!;
    const test = find(manifests, 'Pod').find((p) => p.metadata.annotations?.['helm.sh/hook'] === 'test')!;
    const container = podSpecOf(test).containers[0];
    const service = only(manifests, 'Service', 'gateway');
    type ServiceSpec = { ports: { port: number }[] };
    expect(env(container, 'GATEWAY_URL')?.value).toBe(
      `http://${service.metadata.name}:${specOf<ServiceSpec>(service).ports[0].port}`,
    );
    expect(env(container, 'API_KEY')?.valueFrom?.secretKeyRef?.name).toBe('chattensor-helm-test-key');
    expect(container.command!.join('\n')).toContain('/v1/chat/completions');
  });

  it('ships every dashboard as a ConfigMap the Grafana sidecar picks up', () => {
    const manifests = rendered.get('gpu-miners')!;
    const configMaps = find(manifests, 'ConfigMap').filter(
      (c) => c.metadata.labels?.grafana_dashboard === '1',
    );
    expect(configMaps.map((c) => c.metadata.namespace)).toEqual(configMaps.map(() => 'monitoring'));
    const uids = configMaps.flatMap((c) =>
      Object.values(c.data!).map((json) => (JSON.parse(json) as { uid: string }).uid),
    );
    expect(uids.sort()).toEqual([
      'chattensor-chain',
      'chattensor-miners',
      'chattensor-overview',
      'chattensor-verification',
    ]);
  });

  it('links every alert to its entry in the operations guide', () => {
    const manifests = rendered.get('gpu-miners')!;
    type Rules = { groups: { rules: { alert: string; annotations: { runbook: string } }[] }[] };
    const rules = specOf<Rules>(only(manifests, 'PrometheusRule')).groups.flatMap((g) => g.rules);
    const headings = new Set(
      [...readRepoFile('docs/operations.md').matchAll(/^#{2,4} (.+)$/gm)].map((m) =>
        m[1]
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const rule of rules) {
      const anchor = rule.annotations.runbook.split('#')[1];
      expect(anchor).toBe(rule.alert.toLowerCase());
      expect(headings.has(anchor)).toBe(true);
    }
  });

  it('pulls every image of every pod with image.pullSecrets', () => {
    for (const { path } of ciValueFiles) {
      const manifests = render({
        valueFiles: [path],
        set: { 'image.pullSecrets[0]': 'registry-credentials' },
      });
      for (const workload of workloads(manifests)) {
        const pod = podSpecOf(workload) as { imagePullSecrets?: { name: string }[] };
        expect([workload.metadata.name, pod.imagePullSecrets]).toEqual([
          workload.metadata.name,
          [{ name: 'registry-credentials' }],
        ]);
      }
    }
  });

  it('serves the chain-indexer query API on a Service that the release’s services may call', () => {
    const manifests = rendered.get('gpu-miners')!;
    const container = mainContainer(only(manifests, 'Deployment', 'chain-indexer'));
    const grpc = container.ports!.find((p) => p.name === 'grpc')!;
    expect(env(container, 'INDEXER_GRPC_PORT')?.value).toBe(String(grpc.containerPort));
    type ServiceSpec = { ports: { port: number; targetPort: string }[] };
    expect(specOf<ServiceSpec>(only(manifests, 'Service', 'chain-indexer')).ports).toEqual([
      expect.objectContaining({ port: grpc.containerPort, targetPort: 'grpc' }),
    ]);
    type Policy = {
      ingress: {
        from?: { podSelector?: { matchLabels: Record<string, string> } }[];
        ports: { port: number }[];
      }[];
    };
    const callers = specOf<Policy>(only(manifests, 'NetworkPolicy', 'chain-indexer'))
      .ingress.filter((rule) => rule.ports.some((p) => p.port === grpc.containerPort))
      .flatMap((rule) => rule.from ?? [])
      .map((peer) => peer.podSelector?.matchLabels['app.kubernetes.io/component'])
      .sort();
    expect(callers).toEqual(['gateway', 'miner', 'validator']);
  });

  describe('production options', () => {
    const manifests = rendered.get('production-options')!;
    const secretOf = (container: Container, name: string) => env(container, name)?.valueFrom?.secretKeyRef;

    it('runs a three-node JetStream cluster whose servers route to each other, and keeps a quorum', () => {
      type StatefulSetSpec = { replicas: number };
      expect(specOf<StatefulSetSpec>(only(manifests, 'StatefulSet', 'nats')).replicas).toBe(3);
      const conf = only(manifests, 'ConfigMap', 'nats').data!['nats.conf'];
      expect(
        [...conf.matchAll(/nats:\/\/\S+-nats-(\d)\.\S+-nats-headless\.chattensor\.svc:6222/g)].map(
          (m) => m[1],
        ),
      ).toEqual(['0', '1', '2']);
      expect(find(manifests, 'PodDisruptionBudget', 'nats')).toHaveLength(1);
    });

    it('gives the NATS token and the Redis password from their Secrets to the servers and to every service', () => {
      expect(only(manifests, 'ConfigMap', 'nats').data!['nats.conf']).toMatch(
        /authorization \{\s*token: \$NATS_TOKEN\s*\}/,
      );
      const nats = podSpecOf(only(manifests, 'StatefulSet', 'nats')).containers[0];
      expect(secretOf(nats, 'NATS_TOKEN')).toEqual({ name: 'chattensor-nats-auth', key: 'token' });
      const redis = podSpecOf(only(manifests, 'StatefulSet', 'redis')).containers[0];
      expect(only(manifests, 'ConfigMap', 'redis').data!['start-redis.sh']).toContain(
        '--requirepass "$REDIS_PASSWORD" --masterauth "$REDIS_PASSWORD"',
      );
      expect(secretOf(redis, 'REDIS_PASSWORD')).toEqual({ name: 'chattensor-redis-auth', key: 'password' });
      expect(secretOf(redis, 'REDISCLI_AUTH')).toEqual({ name: 'chattensor-redis-auth', key: 'password' });
      for (const service of ['gateway', 'validator', 'miner', 'chain-indexer']) {
        const container = mainContainer(only(manifests, 'Deployment', service));
        expect(secretOf(container, 'NATS_TOKEN')).toEqual({ name: 'chattensor-nats-auth', key: 'token' });
        if (service !== 'miner')
          expect(secretOf(container, 'REDIS_PASSWORD')).toEqual({
            name: 'chattensor-redis-auth',
            key: 'password',
          });
      }
    });

    it('runs the exporters beside NATS and Redis, scraped by their own PodMonitor', () => {
      for (const component of ['nats', 'redis']) {
        const names = podSpecOf(only(manifests, 'StatefulSet', component)).containers.map((c) => c.name);
        expect(names[0]).toBe(component);
        expect(names).toContain('exporter');
      }
      expect(
        find(manifests, 'PodMonitor')
          .map((m) => m.metadata.name)
          .sort(),
      ).toEqual(['chattensor', 'chattensor-exporters']);
    });

    it('fills the model volume with the model-fetch Job at the MODEL_DIR the miner reads, read-only', () => {
      const job = only(manifests, 'Job', 'miner');
      const fetch = podSpecOf(job).containers[0];
      const miner = podSpecOf(only(manifests, 'Deployment', 'miner'));
      expect(env(fetch, 'MODEL_DIR')?.value).toBe(env(miner.containers[0], 'MODEL_DIR')?.value);
      expect(fetch.command!.slice(4)).toEqual(['npm', 'run', 'model:fetch']);
      const claim = only(manifests, 'PersistentVolumeClaim', 'miner').metadata.name;
      expect(podSpecOf(job).volumes).toContainEqual({
        name: 'model',
        persistentVolumeClaim: { claimName: claim },
      });
      expect(miner.volumes).toContainEqual({
        name: 'model',
        persistentVolumeClaim: { claimName: claim, readOnly: true },
      });
      expect(miner.initContainers!.map((c) => c.name)).toEqual(['wait-for-model']);
    });

    it('gives the gateway and the validators the model from that volume once the Job has filled it', () => {
      const modelDir = env(mainContainer(only(manifests, 'Deployment', 'miner')), 'MODEL_DIR')!.value;
      const claim = only(manifests, 'PersistentVolumeClaim', 'miner').metadata.name;
      for (const [component, variable] of [
        ['gateway', 'MODEL_DIRS'],
        ['validator', 'REFERENCE_MODEL_DIR'],
      ]) {
        const pod = podSpecOf(only(manifests, 'Deployment', component));
        expect(env(pod.containers[0], variable)?.value).toBe(modelDir);
        expect(pod.volumes).toContainEqual({
          name: 'model',
          persistentVolumeClaim: { claimName: claim, readOnly: true },
        });
        expect(pod.containers[0].volumeMounts).toContainEqual({
          name: 'model',
          mountPath: '/models',
          readOnly: true,
        });
        // Both read the model at start: they wait for the fetch Job rather than crash-looping.
        const wait = pod.initContainers!.find((c) => c.name === 'wait-for-model')!;
        expect(env(wait, 'MODEL_DIR')?.value).toBe(modelDir);
      }
    });

    it('leaves the gateway to the miners’ context check where the model volume cannot reach every node', () => {
      const readWriteOnce = render({
        valueFiles: [ciValues('production-options')],
        set: { 'miner.model.fetch.accessModes[0]': 'ReadWriteOnce' },
      });
      const gateway = podSpecOf(only(readWriteOnce, 'Deployment', 'gateway'));
      expect(env(gateway.containers[0], 'MODEL_DIRS')).toBeUndefined();
      expect(gateway.volumes?.map((v) => v.name)).not.toContain('model');
      expect(gateway.initContainers ?? []).toEqual([]);
      const generated = podSpecOf(only(rendered.get('minimal-cpu')!, 'Deployment', 'gateway'));
      expect(env(generated.containers[0], 'MODEL_DIRS')).toBeUndefined();
      const shared = podSpecOf(only(rendered.get('gpu-miners')!, 'Deployment', 'gateway'));
      expect(env(shared.containers[0], 'MODEL_DIRS')?.value).toBe('/models/qwen2.5-0.5b-instruct');
      expect(shared.volumes).toContainEqual({
        name: 'model',
        persistentVolumeClaim: { claimName: 'chattensor-models', readOnly: true },
      });
    });

    it('scales the gateway on chat requests in flight', () => {
      expect(only(manifests, 'HorizontalPodAutoscaler', 'gateway').spec).toMatchObject({
        metrics: expect.arrayContaining([
          expect.objectContaining({
            pods: expect.objectContaining({ metric: { name: 'chattensor_gateway_num_requests_running' } }),
          }),
        ]),
      });
      const keda = only(rendered.get('autoscaling-keda')!, 'ScaledObject', 'gateway');
      expect(keda.spec).toMatchObject({
        fallback: { failureThreshold: 3, replicas: 6 },
        triggers: expect.arrayContaining([
          expect.objectContaining({
            type: 'prometheus',
            metadata: expect.objectContaining({
              query: expect.stringContaining('chattensor_gateway_num_requests_running'),
            }),
          }),
        ]),
      });
    });

    it('serves NATS and Redis over TLS, and the services reach them with tls:// and rediss:// trusting the issuer', () => {
      const manifests = rendered.get('tls')!;
      expect(only(manifests, 'ConfigMap', 'nats').data!['nats.conf']).toMatch(
        /tls \{\s*cert_file: \/etc\/nats\/tls\/tls\.crt/,
      );
      expect(only(manifests, 'ConfigMap', 'redis').data!['redis.conf']).toMatch(
        /^port 0$[\s\S]*^tls-port 6379$/m,
      );
      for (const service of ['gateway', 'validator', 'miner', 'chain-indexer']) {
        const deployment = only(manifests, 'Deployment', service);
        const container = mainContainer(deployment);
        expect(env(container, 'NATS_URL')?.value).toMatch(/^tls:\/\//);
        if (service !== 'miner') expect(env(container, 'REDIS_URL')?.value).toMatch(/^rediss:\/\//);
        const ca = env(container, 'NODE_EXTRA_CA_CERTS')!.value!;
        const mount = container.volumeMounts!.find((m) => ca.startsWith(`${m.mountPath}/`))!;
        const volume = podSpecOf(deployment).volumes!.find((v) => v.name === mount.name)!;
        expect(volume.secret).toEqual({
          secretName: 'chattensor-internal-tls',
          items: [{ key: 'ca.crt', path: 'ca.crt' }],
        });
      }
    });

    it('runs Redis as a primary and two replicas watched by three sentinels, which the services ask for the primary', () => {
      type StatefulSetSpec = { replicas: number };
      const redis = only(manifests, 'StatefulSet', 'redis');
      expect(specOf<StatefulSetSpec>(redis).replicas).toBe(3);
      expect(podSpecOf(redis).containers.map((c) => c.name)).toEqual(['redis', 'sentinel', 'exporter']);
      const scripts = only(manifests, 'ConfigMap', 'redis').data!;
      expect(scripts['start-sentinel.sh']).toMatch(/sentinel monitor chattensor \$primary 6379 2/);
      for (const service of ['gateway', 'validator', 'chain-indexer']) {
        const container = mainContainer(only(manifests, 'Deployment', service));
        const sentinels = env(container, 'REDIS_SENTINELS')!.value!.split(',');
        expect(sentinels).toEqual(
          [0, 1, 2].map((i) => `chattensor-redis-${i}.chattensor-redis-headless.chattensor.svc:26379`),
        );
        expect(env(container, 'REDIS_SENTINEL_MASTER')?.value).toBe('chattensor');
      }
      expect(find(manifests, 'PodDisruptionBudget', 'redis')).toHaveLength(1);
    });

    it('puts every pod in its priority tier', () => {
      for (const workload of workloads(manifests)) {
        const component = componentOf(workload);
        if (!['gateway', 'validator', 'miner', 'chain-indexer', 'nats', 'redis'].includes(component))
          continue;
        const tier = ['chain-indexer', 'nats', 'redis'].includes(component) ? 'system' : 'serving';
        expect([
          component,
          (podSpecOf(workload) as { priorityClassName?: string }).priorityClassName,
        ]).toEqual([component, `chattensor-${tier}`]);
      }
      expect(
        find(manifests, 'PriorityClass')
          .map((p) => p.metadata.name)
          .sort(),
      ).toEqual(['chattensor-serving', 'chattensor-system']);
    });
  });

  it('documents every value with @param and lists nothing that is not a value', () => {
    const text = readFileSync(join(chartDir, 'values.yaml'), 'utf8');
    const documented = new Set([...text.matchAll(/^\s*## @param (\S+)/gm)].map((m) => m[1]));
    const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as SchemaNode;
    const leaves: string[] = [];
    // The schema's closed objects are the chart's own structure; open ones are passed through to Kubernetes.
    (function walk(node: SchemaNode, path: string) {
      if (node.type === 'object' && node.properties && node.additionalProperties === false) {
        for (const [key, child] of Object.entries(node.properties))
          walk(child, path ? `${path}.${key}` : key);
      } else {
        leaves.push(path);
      }
    })(schema, '');
    expect(leaves.filter((leaf) => !documented.has(leaf))).toEqual([]);
    expect([...documented].filter((param) => !leaves.includes(param))).toEqual([]);
    const values = parse(text) as Record<string, unknown>;
    expect(Object.keys(values).sort()).toEqual(Object.keys(schema.properties!).sort());
  });
});

interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
}
