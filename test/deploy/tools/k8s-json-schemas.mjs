#!/usr/bin/env node
// Writes kubeconform schemas (strict JSON Schema, one self-contained file per
// kind, named like `deployment-apps-v1.json`) from the Kubernetes OpenAPI v2
// document and from CustomResourceDefinition manifests. CI cannot download the
// published schema sets, but the OpenAPI document ships inside the
// k8s.io/kubernetes Go module and the CRDs inside the operators' Go modules,
// which the Go module proxy serves.
//
// Usage: k8s-json-schemas.mjs --out DIR [--swagger swagger.json] [--crd crd.yaml ...]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    swagger: { type: 'string' },
    crd: { type: 'string', multiple: true, default: [] },
  },
});
if (!values.out || (!values.swagger && values.crd.length === 0)) {
  console.error('usage: k8s-json-schemas.mjs --out DIR [--swagger swagger.json] [--crd crd.yaml ...]');
  process.exit(2);
}
mkdirSync(values.out, { recursive: true });

/** kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}` file name for a group/version/kind. */
function schemaFileName(group, version, kind) {
  const suffix = group ? `-${group.split('.')[0]}-${version}` : `-${version}`;
  return `${kind.toLowerCase()}${suffix}.json`.toLowerCase();
}

const INT_OR_STRING = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
// Quantities are strings in the API but manifests write `cpu: 1` as often as `cpu: "1"`.
const QUANTITY = { oneOf: [{ type: 'string' }, { type: 'number' }] };

/**
 * Tightens one schema node: unknown fields are rejected where the API lists its
 * fields (that is what catches a misspelt key), and `null` is accepted where a
 * value is optional, as the API server does.
 */
function strictify(node, { nullable }) {
  if (Array.isArray(node)) return node.map((item) => strictify(item, { nullable }));
  if (!node || typeof node !== 'object') return node;
  if (node['x-kubernetes-int-or-string'] === true || node.format === 'int-or-string') {
    return { ...(node.description ? { description: node.description } : {}), ...INT_OR_STRING };
  }
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, child]) => [name, strictify(child, { nullable: true })]),
      );
    } else if (key === 'items' || key === 'additionalProperties' || key === 'not') {
      out[key] = typeof value === 'object' ? strictify(value, { nullable: false }) : value;
    } else if (key === 'allOf' || key === 'anyOf' || key === 'oneOf') {
      out[key] = value.map((item) => strictify(item, { nullable: false }));
    } else if (key === 'nullable' || key.startsWith('x-kubernetes-')) {
      continue;
    } else {
      out[key] = value;
    }
  }
  const preserveUnknown = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (out.properties && out.additionalProperties === undefined && !preserveUnknown)
    out.additionalProperties = false;
  if ((nullable || node.nullable === true) && typeof out.type === 'string') out.type = [out.type, 'null'];
  return out;
}

function collectRefs(node, into) {
  if (Array.isArray(node)) node.forEach((item) => collectRefs(item, into));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') into.add(value.replace('#/definitions/', ''));
      else collectRefs(value, into);
    }
  }
}

let written = 0;

if (values.swagger) {
  const swagger = JSON.parse(readFileSync(values.swagger, 'utf8'));
  const definitions = {};
  for (const [name, definition] of Object.entries(swagger.definitions)) {
    if (name === 'io.k8s.apimachinery.pkg.util.intstr.IntOrString') definitions[name] = INT_OR_STRING;
    else if (name === 'io.k8s.apimachinery.pkg.api.resource.Quantity') definitions[name] = QUANTITY;
    else definitions[name] = strictify(definition, { nullable: false });
  }
  for (const [name, definition] of Object.entries(swagger.definitions)) {
    for (const gvk of definition['x-kubernetes-group-version-kind'] ?? []) {
      // Lists and the meta types (WatchEvent, DeleteOptions) are never in a chart.
      if (gvk.kind.endsWith('List') || name.startsWith('io.k8s.apimachinery.')) continue;
      const needed = new Set([name]);
      for (const queue = [name]; queue.length > 0;) {
        const found = new Set();
        collectRefs(definitions[queue.pop()], found);
        for (const ref of found) if (!needed.has(ref)) needed.add(ref) && queue.push(ref);
      }
      const root = structuredClone(definitions[name]);
      const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;
      root.properties.apiVersion = { type: 'string', enum: [apiVersion] };
      root.properties.kind = { type: 'string', enum: [gvk.kind] };
      const schema = {
        $schema: 'http://json-schema.org/draft-04/schema#',
        ...root,
        definitions: Object.fromEntries(
          [...needed]
            .filter((ref) => ref !== name)
            .sort()
            .map((ref) => [ref, definitions[ref]]),
        ),
      };
      writeFileSync(
        join(values.out, schemaFileName(gvk.group, gvk.version, gvk.kind)),
        JSON.stringify(schema),
      );
      written++;
    }
  }
}

for (const file of values.crd) {
  for (const document of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const crd = document.toJS();
    if (crd?.kind !== 'CustomResourceDefinition') continue;
    const { group, names } = crd.spec;
    for (const version of crd.spec.versions) {
      const openApi = version.schema?.openAPIV3Schema;
      if (!openApi) continue;
      const root = strictify(openApi, { nullable: false });
      root.properties.apiVersion = { type: 'string', enum: [`${group}/${version.name}`] };
      root.properties.kind = { type: 'string', enum: [names.kind] };
      root.required = [...new Set([...(root.required ?? []), 'apiVersion', 'kind', 'metadata'])];
      const schema = { $schema: 'http://json-schema.org/draft-04/schema#', ...root };
      writeFileSync(
        join(values.out, schemaFileName(group, version.name, names.kind)),
        JSON.stringify(schema),
      );
      written++;
    }
  }
}

console.log(`wrote ${written} schemas to ${values.out}`);
