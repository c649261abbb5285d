import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  discoverServiceEndpoint,
  inClusterApi,
  parseServiceRef,
} from '../../services/miner/src/announce/service-endpoint';
import { ciValues, find, only, podSpecOf, render, type Manifest } from './support/chart';

/**
 * A miner behind a LoadBalancer Service without a configured address reads
 * the address from the API server, with its own service-account token and
 * the chart's Role: here against the real kube-apiserver the deploy checks
 * start (KUBE_API_URL, KUBE_API_TOKEN: an admin token, KUBE_API_CA).
 */
const api = process.env.KUBE_API_URL;
const run = api ? it : it.skip;

function call(method: string, path: string, token: string, body?: unknown, contentType = 'application/json') {
  const url = new URL(path, api);
  return new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method,
        ca: readFileSync(process.env.KUBE_API_CA!),
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': contentType,
          accept: 'application/json',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(JSON.stringify(body));
    req.end();
  });
}

describe('a chain-mode miner behind a LoadBalancer Service', () => {
  const namespace = 'chattensor';
  const scratch = mkdtempSync(join(tmpdir(), 'chattensor-discovery-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  run(
    'registers the address the cloud gave the Service, read with its own token and the chart’s Role',
    async () => {
      const admin = process.env.KUBE_API_TOKEN!;
      const manifests = render({
        valueFiles: [ciValues('gpu-miners')],
        set: { 'miner.axon.externalIP': '', 'miner.axon.service.loadBalancerIP': '' },
      });
      const deployment = only(manifests, 'Deployment', 'miner');
      const pod = podSpecOf(deployment) as ReturnType<typeof podSpecOf> & { serviceAccountName: string };
      const serviceRef = pod.containers[0].env!.find((e) => e.name === 'AXON_EXTERNAL_SERVICE')!.value!;
      const objects: Manifest[] = [
        only(manifests, 'ServiceAccount'),
        only(manifests, 'Role', 'miner'),
        only(manifests, 'RoleBinding', 'miner'),
        ...find(manifests, 'Service', 'miner').filter((s) => s.metadata.name.endsWith('-axon')),
      ];
      const collection: Record<string, string> = {
        ServiceAccount: `/api/v1/namespaces/${namespace}/serviceaccounts`,
        Role: `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`,
        RoleBinding: `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`,
        Service: `/api/v1/namespaces/${namespace}/services`,
      };
      for (const object of objects) {
        const res = await call(
          'PATCH',
          `${collection[object.kind]}/${object.metadata.name}?fieldManager=deploy-tests&force=true`,
          admin,
          object,
          'application/apply-patch+yaml',
        );
        // 201 when created, 200 when it was there already.
        expect({ object: object.metadata.name, applied: [200, 201].includes(res.status) }).toEqual({
          object: object.metadata.name,
          applied: true,
        });
      }
      const serviceName = serviceRef.split('/')[1];
      // The cloud's controller would write this; here the test does.
      const patched = await call(
        'PATCH',
        `/api/v1/namespaces/${namespace}/services/${serviceName}/status`,
        admin,
        { status: { loadBalancer: { ingress: [{ ip: '203.0.113.77' }] } } },
        'application/merge-patch+json',
      );
      expect(patched.status).toBe(200);

      // The pod's view: its service-account token (TokenRequest), the CA, its namespace.
      const tokenRequest = await call(
        'POST',
        `/api/v1/namespaces/${namespace}/serviceaccounts/${pod.serviceAccountName}/token`,
        admin,
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 600 },
        },
      );
      expect(tokenRequest.status).toBe(201);
      writeFileSync(join(scratch, 'token'), (tokenRequest.json.status as { token: string }).token);
      writeFileSync(join(scratch, 'ca.crt'), readFileSync(process.env.KUBE_API_CA!));
      writeFileSync(join(scratch, 'namespace'), namespace);
      const url = new URL(api!);
      const inCluster = inClusterApi(
        { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port },
        scratch,
      );

      const servicePort = (objects.find((o) => o.kind === 'Service')!.spec as { ports: { port: number }[] })
        .ports[0].port;
      expect(await discoverServiceEndpoint(inCluster, parseServiceRef(serviceRef, scratch))).toEqual({
        ip: '203.0.113.77',
        port: servicePort,
      });
      expect(await discoverServiceEndpoint(inCluster, parseServiceRef(serviceName, scratch))).toEqual({
        ip: '203.0.113.77',
        port: servicePort,
      });
      // The Role names that Service only.
      await expect(
        discoverServiceEndpoint(inCluster, { namespace, name: 'chattensor-gateway' }),
      ).rejects.toThrow(/403/);
    },
  );
});
