/**
 * The manifests under deploy/kubernetes/: what scripts/generate-kubernetes.mjs
 * writes (so the pod sysctls follow the sidecar's catalogue and the dashboard
 * ConfigMap follows deploy/grafana/), valid against the Kubernetes API schemas
 * offline (the kubernetes-models package: types, required fields and enums of
 * Kubernetes 1.27; it does not reject unknown fields), and holding what each
 * variant promises.
 */
import { readFileSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ROOT } from '../sidecar/support';

type Doc = { apiVersion: string; kind: string; metadata: { name: string }; spec?: any; data?: Record<string, string> };
type Generator = {
  manifests(): Record<string, string>;
  safeSysctls(version?: string): { name: string; value: string }[];
  PRELOAD_REQUIRE: string;
  APP_NODE_OPTIONS: string;
  SAFE_SYSCTLS_VERSION: string;
};

const gen = (await import(join(ROOT, 'scripts', 'generate-kubernetes.mjs'))) as Generator;
const DIR = join(ROOT, 'deploy', 'kubernetes');
const files = gen.manifests();
const docs = (file: string): Doc[] =>
  YAML.parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => d.toJS() as Doc);
const all = Object.keys(files).flatMap((f) => docs(f).map((d) => ({ file: f, doc: d })));
const podSpec = (d: Doc) => d.spec.template.spec;
const containersOf = (d: Doc): any[] => [...(podSpec(d).initContainers ?? []), ...podSpec(d).containers];
const workload = (file: string) => docs(file).find((d) => d.kind === 'Deployment' || d.kind === 'DaemonSet')!;

async function validate(doc: Doc): Promise<void> {
  const group = doc.apiVersion.includes('/') ? doc.apiVersion : `v1`;
  const mod = (await import(`kubernetes-models/${group}`)) as Record<string, new (d: unknown) => { validate(): void }>;
  const Model = mod[doc.kind];
  if (!Model) throw new Error(`no schema for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc).validate();
}

describe('deploy/kubernetes', () => {
  it('every checked-in file is what the generator writes (run node scripts/generate-kubernetes.mjs)', () => {
    const onDisk = readdirSync(DIR, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    expect(onDisk).toEqual(Object.keys(files).sort());
    for (const [file, text] of Object.entries(files)) expect(readFileSync(join(DIR, file), 'utf8'), file).toBe(text);
  });

  it('every manifest validates against the Kubernetes schemas', async () => {
    expect(all.length).toBeGreaterThanOrEqual(7);
    for (const { file, doc } of all) {
      await expect(validate(doc), `${file}: ${doc.kind} ${doc.metadata.name}`).resolves.toBeUndefined();
    }
  });

  it('the schema check is real: a wrong type and a missing required field are refused', async () => {
    const d = structuredClone(workload('preload/deployment.yaml'));
    d.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
    await expect(validate(d)).rejects.toThrow(/containerPort/);
    const e = structuredClone(workload('preload/deployment.yaml'));
    delete e.spec.selector;
    await expect(validate(e)).rejects.toThrow(/selector/);
  });

  it('NODE_OPTIONS keeps what the service set and adds the preload once, as an absolute path into the shared volume', () => {
    for (const file of ['preload/deployment.yaml', 'least-privilege/deployment.yaml', 'sidecar/deployment.yaml']) {
      const app = podSpec(workload(file)).containers[0];
      const env = app.env.find((e: { name: string }) => e.name === 'NODE_OPTIONS');
      expect(env.value, file).toBe(`${gen.APP_NODE_OPTIONS} ${gen.PRELOAD_REQUIRE}`);
      expect(env.value.split(gen.PRELOAD_REQUIRE)).toHaveLength(2);
      const mount = app.volumeMounts.find((m: { name: string }) => m.name === 'titan-perf');
      expect(mount).toMatchObject({ mountPath: '/titan-perf', readOnly: true });
      const init = podSpec(workload(file)).initContainers[0];
      expect(init.volumeMounts).toEqual([{ name: 'titan-perf', mountPath: '/titan-perf' }]);
      // Resource attributes from the downward API, under names the preload reads.
      const fields = Object.fromEntries(
        app.env.filter((e: any) => e.valueFrom).map((e: any) => [e.name, e.valueFrom.fieldRef.fieldPath]),
      );
      expect(fields).toEqual({
        K8S_POD_NAME: 'metadata.name',
        K8S_NAMESPACE_NAME: 'metadata.namespace',
        K8S_POD_UID: 'metadata.uid',
        K8S_NODE_NAME: 'spec.nodeName',
      });
      expect(workload(file).spec.template.metadata.annotations).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '9464',
      });
    }
  });

  it('the emptyDir limit holds the preload folder with room to spare', () => {
    const bundle = join(ROOT, 'dist', 'preload-bundle');
    const bytes = readdirSync(bundle).reduce((n, f) => n + statSync(join(bundle, f)).size, 0);
    const vol = podSpec(workload('preload/deployment.yaml')).volumes.find(
      (v: { name: string }) => v.name === 'titan-perf',
    );
    const limit = Number(/^(\d+)Mi$/.exec(vol.emptyDir.sizeLimit)![1]) * 2 ** 20;
    expect(bytes * 4).toBeLessThan(limit);
  });

  it('least privilege: the safe sysctls come from the catalogue, and no container is privileged or keeps a capability', () => {
    const d = workload('least-privilege/deployment.yaml');
    const sysctls = podSpec(d).securityContext.sysctls;
    expect(sysctls).toEqual(gen.safeSysctls(gen.SAFE_SYSCTLS_VERSION));
    expect(sysctls.map((s: { name: string }) => s.name)).toEqual(
      expect.arrayContaining(['net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout']),
    );
    // tcp_rmem/tcp_wmem became safe in 1.32: not in a manifest meant for 1.29 clusters.
    expect(sysctls.map((s: { name: string }) => s.name)).not.toContain('net.ipv4.tcp_rmem');
    expect(gen.safeSysctls('1.32').map((s) => s.name)).toContain('net.ipv4.tcp_rmem');
    for (const c of containersOf(d)) {
      expect(c.securityContext, c.name).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(c.securityContext.privileged).toBeUndefined();
      expect(c.securityContext.capabilities.add).toBeUndefined();
    }
  });

  it('sidecar: only NET_ADMIN, not privileged, journal on a pod volume, rollback on exit', () => {
    const d = workload('sidecar/deployment.yaml');
    const sidecar = podSpec(d).containers.find((c: { name: string }) => c.name === 'titan-perf-sidecar');
    expect(sidecar.securityContext).toMatchObject({
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
      allowPrivilegeEscalation: false,
    });
    expect(sidecar.securityContext.privileged).toBeUndefined();
    expect(podSpec(d).hostNetwork).toBeUndefined();
    expect(sidecar.args).toEqual(expect.arrayContaining(['--state-dir', '/var/lib/titan-perf', '--rollback-on-exit']));
    expect(podSpec(d).volumes.find((v: { name: string }) => v.name === 'journal')).toMatchObject({ emptyDir: {} });
    const config = YAML.parse(
      docs('sidecar/deployment.yaml').find((x) => x.kind === 'ConfigMap')!.data!['config.yaml'],
    );
    expect(config.system.allowNodeScope).toBe(false);
  });

  it('node DaemonSet: node scope allowed, tolerates every taint, journal on the node', () => {
    const d = workload('node/daemonset.yaml');
    expect(podSpec(d).tolerations).toEqual([{ operator: 'Exists' }]);
    expect(podSpec(d).hostNetwork).toBe(true);
    expect(podSpec(d).volumes.find((v: { name: string }) => v.name === 'journal').hostPath.path).toBe(
      '/var/lib/titan-perf',
    );
    const config = YAML.parse(docs('node/daemonset.yaml').find((x) => x.kind === 'ConfigMap')!.data!['config.yaml']);
    expect(config.system.allowNodeScope).toBe(true);
  });

  it('the Grafana dashboard ConfigMap carries deploy/grafana/titan-perf-dashboard.json unchanged', () => {
    const cm = docs('grafana/dashboard-configmap.yaml')[0];
    const json = readFileSync(join(ROOT, 'deploy', 'grafana', 'titan-perf-dashboard.json'), 'utf8');
    expect(cm.data!['titan-perf-dashboard.json']).toBe(json);
    expect(JSON.parse(cm.data!['titan-perf-dashboard.json']).panels.length).toBeGreaterThan(0);
  });
});
