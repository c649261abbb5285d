#!/usr/bin/env node
// Sends rendered manifests to a real kube-apiserver with server-side apply.
// `--dry-run` asks the server to validate and admit every object without
// storing it (dryRun=All), with strict field validation: an unknown or
// duplicated field is an error, not a warning. Without it the objects are
// stored (used for the CRDs the chart's objects need).
//
// Usage: kube-apply.mjs --kubeconfig FILE [--dry-run] [--wait-established] file.yaml ...
// The kubeconfig is the one scripts/deploy-checks.sh writes (server, CA file, token).
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    kubeconfig: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    'wait-established': { type: 'boolean', default: false },
    namespace: { type: 'string', default: 'default' },
  },
});
if (!values.kubeconfig || positionals.length === 0) {
  console.error('usage: kube-apply.mjs --kubeconfig FILE [--dry-run] [--wait-established] [--namespace NS] file.yaml ...');
  process.exit(2);
}

const config = parse(readFileSync(values.kubeconfig, 'utf8'));
const cluster = config.clusters[0].cluster;
const server = new URL(cluster.server);
const ca = readFileSync(resolve(dirname(values.kubeconfig), cluster['certificate-authority']));
const token = config.users[0].user.token;

function call(method, path, body, contentType = 'application/json') {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      {
        host: server.hostname,
        port: server.port,
        method,
        path,
        ca,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': contentType }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text, warnings: res.headers.warning }));
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function getJson(path) {
  const res = await call('GET', path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.text}`);
  return JSON.parse(res.text);
}

/** group/version -> kind -> { name, namespaced }, from the server's discovery documents. */
async function discover() {
  const resources = new Map();
  const add = async (groupVersion, prefix) => {
    const list = await getJson(`${prefix}/${groupVersion}`);
    const kinds = new Map();
    for (const r of list.resources) if (!r.name.includes('/')) kinds.set(r.kind, { name: r.name, namespaced: r.namespaced });
    resources.set(groupVersion, kinds);
  };
  await add('v1', '/api');
  const groups = await getJson('/apis');
  for (const group of groups.groups) for (const v of group.versions) await add(v.groupVersion, '/apis');
  return resources;
}

const manifests = positionals.flatMap((file) =>
  parseAllDocuments(readFileSync(file, 'utf8'))
    .map((document) => document.toJS())
    .filter((m) => m?.kind)
    .map((m) => ({ file, manifest: m })),
);

let resources = await discover();
const failures = [];
for (const { file, manifest } of manifests) {
  const { apiVersion, kind, metadata } = manifest;
  let kinds = resources.get(apiVersion);
  if (!kinds?.has(kind)) {
    // A CRD applied a moment ago may not be in discovery yet.
    resources = await discover();
    kinds = resources.get(apiVersion);
  }
  const resource = kinds?.get(kind);
  const where = `${file}: ${kind} ${metadata?.name}`;
  if (!resource) {
    failures.push(`${where}: the server does not serve ${apiVersion} ${kind}`);
    continue;
  }
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const namespace = metadata.namespace ?? values.namespace;
  const collection = resource.namespaced ? `${base}/namespaces/${namespace}/${resource.name}` : `${base}/${resource.name}`;
  const query = new URLSearchParams({ fieldManager: 'deploy-checks', fieldValidation: 'Strict', force: 'true' });
  if (values['dry-run']) query.set('dryRun', 'All');
  const res = await call(
    'PATCH',
    `${collection}/${encodeURIComponent(metadata.name)}?${query}`,
    JSON.stringify(manifest),
    'application/apply-patch+yaml',
  );
  if (res.status >= 300) {
    let message = res.text;
    try {
      message = JSON.parse(res.text).message;
    } catch {
      // not a Status object: keep the body
    }
    failures.push(`${where}: ${res.status} ${message}`);
  } else if (res.warnings) {
    failures.push(`${where}: warning ${res.warnings}`);
  }
  if (values['wait-established'] && kind === 'CustomResourceDefinition') {
    for (let i = 0; ; i++) {
      const crd = await getJson(`${collection}/${metadata.name}`);
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (i > 100) throw new Error(`${metadata.name} is not established`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
const verb = values['dry-run'] ? 'accepted in a server-side dry run (strict field validation)' : 'applied';
if (failures.length > 0) {
  console.error(failures.join('\n'));
  console.error(`${failures.length} of ${manifests.length} objects refused`);
  process.exit(1);
}
console.log(`${manifests.length} objects ${verb}`);
