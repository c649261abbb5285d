import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/**
 * Where validators reach this miner when a Kubernetes LoadBalancer Service
 * fronts it: the address the cloud gave the Service and the Service's `axon`
 * port, read from the API server with the pod's service-account token (the
 * chart grants `get` on that one Service). Lets a miner register on chain the
 * address its load balancer really has, without copying it into values.
 */
export interface ServiceRef {
  namespace: string;
  name: string;
}

export interface InClusterApi {
  /** https://host:port of the API server. */
  url: string;
  token: string;
  ca: Buffer;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The API server as a pod sees it (KUBERNETES_SERVICE_HOST/PORT, the mounted token and CA). */
export function inClusterApi(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): InClusterApi {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('KUBERNETES_SERVICE_HOST is not set: not running in a Kubernetes pod');
  return {
    url: `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`,
    token: readFileSync(`${dir}/token`, 'utf8').trim(),
    ca: readFileSync(`${dir}/ca.crt`),
  };
}

/** `namespace/name`, or `name` in the pod's own namespace. */
export function parseServiceRef(value: string, dir = SERVICE_ACCOUNT_DIR): ServiceRef {
  const [a, b] = value.split('/');
  if (b) return { namespace: a, name: b };
  return { namespace: readFileSync(`${dir}/namespace`, 'utf8').trim(), name: a };
}

interface ServiceObject {
  spec?: { ports?: { name?: string; port: number }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

function getJson(api: InClusterApi, path: string): Promise<unknown> {
  const url = new URL(path, api.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port,
        path: url.pathname,
        method: 'GET',
        ca: api.ca,
        headers: { authorization: `Bearer ${api.token}`, accept: 'application/json' },
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`GET ${url.pathname}: ${res.statusCode} ${body.slice(0, 300)}`));
            return;
          }
          try {
            resolve(JSON.parse(body));
          } catch {
            reject(new Error(`GET ${url.pathname}: the answer is not JSON`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url.pathname}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * The Service's public address and its `axon` port, or undefined while the
 * load balancer has no address yet. A hostname (some clouds give one) is
 * resolved to an IPv4 address: serve_axon registers an IP.
 */
export async function discoverServiceEndpoint(
  api: InClusterApi,
  ref: ServiceRef,
): Promise<{ ip: string; port: number } | undefined> {
  const service = (await getJson(
    api,
    `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/services/${encodeURIComponent(ref.name)}`,
  )) as ServiceObject;
  const port = service.spec?.ports?.find((p) => p.name === 'axon')?.port ?? service.spec?.ports?.[0]?.port;
  if (port === undefined) throw new Error(`Service ${ref.namespace}/${ref.name} has no port`);
  const ingress = service.status?.loadBalancer?.ingress?.[0];
  if (!ingress) return undefined;
  if (ingress.ip) return { ip: ingress.ip, port };
  if (ingress.hostname) return { ip: (await lookup(ingress.hostname, { family: 4 })).address, port };
  return undefined;
}
