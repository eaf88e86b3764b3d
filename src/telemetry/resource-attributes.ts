/**
 * Resource attributes for titan-perf's own exporter (through the app's
 * pipeline, the app's resource applies). Later wins: process facts <
 * Kubernetes downward-API env < OTEL_RESOURCE_ATTRIBUTES < OTEL_SERVICE_NAME,
 * as the specification orders the last two.
 */
import { hostname } from 'node:os';
import { basename } from 'node:path';

type Env = Record<string, string | undefined>;

/**
 * Downward-API variables read, first match wins. The OpenTelemetry operator
 * and most charts use the K8S_* names; POD_NAME / POD_NAMESPACE / NODE_NAME are
 * the names in the Kubernetes documentation's own downward-API examples.
 */
export const K8S_ENV: readonly [attribute: string, names: readonly string[]][] = [
  ['k8s.pod.name', ['K8S_POD_NAME', 'POD_NAME']],
  ['k8s.pod.uid', ['K8S_POD_UID', 'POD_UID']],
  ['k8s.namespace.name', ['K8S_NAMESPACE_NAME', 'K8S_POD_NAMESPACE', 'POD_NAMESPACE']],
  ['k8s.node.name', ['K8S_NODE_NAME', 'NODE_NAME']],
  // Not the bare CONTAINER_NAME: too many images set it for other purposes.
  ['k8s.container.name', ['K8S_CONTAINER_NAME']],
];

export function resourceAttributes(env: Env = process.env): Record<string, string | number> {
  const attrs: Record<string, string | number> = {
    'service.name': `unknown_service:${basename(process.argv0 || 'node')}`,
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
    'host.name': hostname(),
  };
  for (const [attribute, names] of K8S_ENV) {
    const hit = names.map((n) => env[n]?.trim()).find((v) => v);
    if (hit) attrs[attribute] = hit;
  }
  Object.assign(attrs, parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES));
  const service = env.OTEL_SERVICE_NAME?.trim();
  if (service) attrs['service.name'] = service;
  return attrs;
}

/** `key1=value1,key2=value2`, values percent-encoded; malformed pairs are skipped as the spec asks. */
export function parseResourceAttributes(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const pair of raw.split(',')) {
    const i = pair.indexOf('=');
    if (i <= 0) continue;
    const key = pair.slice(0, i).trim();
    try {
      out[key] = decodeURIComponent(pair.slice(i + 1).trim());
    } catch {
      // A malformed %-escape drops this attribute only, as the OpenTelemetry SDK does.
    }
  }
  return out;
}
