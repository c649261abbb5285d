import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const repoRoot = resolve(__dirname, '../../..');
export const chartDir = join(repoRoot, 'helm/chattensor');
export const kubeVersion = process.env.DEPLOY_K8S_VERSION ?? '1.34.2';
export const releaseName = 'chattensor';
export const namespace = 'chattensor';

/** The services whose containers the chart and the compose file configure. */
export const SERVICES = ['gateway', 'validator', 'miner', 'chain-indexer'] as const;
export type ServiceName = (typeof SERVICES)[number];

// helm lives where `go install` puts it; scripts/deploy-checks.sh installs it.
function toolPath(): string {
  const gopath = process.env.GOPATH ?? join(process.env.HOME ?? '/root', 'go');
  return [join(gopath, 'bin'), process.env.PATH ?? ''].join(delimiter);
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  /** Kind-specific: read it through the interfaces below. */
  spec?: unknown;
  data?: Record<string, string>;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number; hostPort?: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  livenessProbe?: { httpGet?: { path: string; port: string } };
  readinessProbe?: { httpGet?: { path: string; port: string } };
  startupProbe?: { periodSeconds: number; failureThreshold: number };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

export interface Volume {
  name: string;
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  emptyDir?: { sizeLimit?: string };
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  runtimeClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: { key?: string; operator?: string; effect?: string }[];
  restartPolicy?: string;
}

export interface WorkloadSpec {
  replicas?: number;
  strategy?: { type: string };
  template: { spec: PodSpec };
}

export interface RenderOptions {
  valueFiles?: string[];
  set?: Record<string, string | number | boolean>;
  showOnly?: string;
}

function helmTemplateArgs(options: RenderOptions): string[] {
  const args = ['template', releaseName, chartDir, '--namespace', namespace, '--kube-version', kubeVersion];
  for (const file of options.valueFiles ?? []) args.push('-f', file);
  for (const [key, value] of Object.entries(options.set ?? {})) args.push('--set', `${key}=${String(value)}`);
  if (options.showOnly) args.push('--show-only', options.showOnly);
  return args;
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => Boolean(manifest?.kind));
}

export function render(options: RenderOptions = {}): Manifest[] {
  const out = execFileSync('helm', helmTemplateArgs(options), {
    encoding: 'utf8',
    env: { ...process.env, PATH: toolPath() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return parseManifests(out);
}

/** Renders values the chart must refuse, and returns helm's error output. */
export function renderError(options: RenderOptions): string {
  try {
    render(options);
  } catch (error) {
    return String((error as { stderr?: string }).stderr ?? error);
  }
  throw new Error(`helm rendered ${JSON.stringify(options)} although it should have refused it`);
}

export const ciValueFiles: { name: string; path: string }[] = readdirSync(join(chartDir, 'ci'))
  .filter((file) => file.endsWith('-values.yaml'))
  .sort()
  .map((file) => ({ name: file.replace(/-values\.yaml$/, ''), path: join(chartDir, 'ci', file) }));

export function ciValues(name: string): string {
  const found = ciValueFiles.find((file) => file.name === name);
  if (!found) throw new Error(`no value set ci/${name}-values.yaml`);
  return found.path;
}

export function find(manifests: Manifest[], kind: string, component?: string): Manifest[] {
  return manifests.filter(
    (m) =>
      m.kind === kind &&
      (component === undefined || m.metadata.labels?.['app.kubernetes.io/component'] === component),
  );
}

export function only(manifests: Manifest[], kind: string, component?: string): Manifest {
  const found = find(manifests, kind, component);
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${component ? ` of ${component}` : ''}, found ${found.length}`);
  return found[0];
}

export function podSpecOf(manifest: Manifest): PodSpec {
  return manifest.kind === 'Pod' ? (manifest.spec as PodSpec) : (manifest.spec as WorkloadSpec).template.spec;
}

export function specOf<T>(manifest: Manifest): T {
  return manifest.spec as T;
}

export function workloads(manifests: Manifest[]): Manifest[] {
  return manifests.filter((m) => ['Deployment', 'StatefulSet', 'Pod'].includes(m.kind));
}

export function readRepoFile(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
}
