/**
 * The manifests in real containers: podman (runc) builds the images from
 * their Dockerfiles on a local Debian base and plays each Deployment with
 * `podman kube play --network none`, so every pod has a network namespace of
 * its own with loopback only; the test reaches into it with `nsenter -n`.
 * The host's kernel settings and interfaces are compared before and after.
 *
 * What podman 4.3 cannot play as written, the rendering below changes, and
 * only that: images named as built here; no `ports` (port mappings need a
 * bridge network, which this suite never uses: probes get numeric ports);
 * fieldRefs other than metadata.name/uid get literal values (podman supports
 * no others); restartPolicy OnFailure (with Always, podman restarts a finished
 * init container forever); and procMount: Unmasked is not applied by podman,
 * so the sidecar container runs with `podman run` in the played pod, with the
 * manifest's image, args, capabilities and volumes plus `unmask=/proc/sys`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { hostSysctlSnapshot, ROOT, waitFor } from '../sidecar/support';

type Images = typeof import('../../scripts/container-images.mjs');
const images = (await import(join(ROOT, 'scripts', 'container-images.mjs'))) as Images;
const gen = (await import(join(ROOT, 'scripts', 'generate-kubernetes.mjs'))) as {
  IMAGES: Record<'init' | 'sidecar' | 'app', string>;
  safeSysctls(): { name: string; value: string }[];
};

// Once per suite run, on Node 24: what runs in the containers does not change with the test's Node
// (the bundle itself is tested on every runtime in test/preload/bundle.test.ts).
const unavailable =
  process.versions.node.split('.')[0] !== '24'
    ? `the container tests run once, on Node 24 (this is Node ${process.versions.node})`
    : images.containersUnavailable();
if (unavailable) process.stderr.write(`test/kubernetes/pods: skipped: ${unavailable}\n`);

let work: string;
let nodeBase: string;
const hostBefore = hostSysctlSnapshot();
// Interfaces a bridge network would add on the host (other test files' veth pairs come and go meanwhile).
const podmanLinks = () =>
  execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => /^\d+: (cni-)?podman|^\d+: veth.*master (cni-)?podman/.test(l));
const linksBefore = podmanLinks();
const forwarding = () =>
  ['ipv4/ip_forward', 'ipv6/conf/all/forwarding'].map((k) => {
    try {
      return readFileSync(`/proc/sys/net/${k}`, 'utf8');
    } catch {
      return null;
    }
  });
const forwardingBefore = forwarding();
const played: string[] = [];
const volumes = new Set<string>();
const timings: Record<string, number> = {};

function podman(args: string[]): string {
  const r = images.podman(args);
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

type Doc = { kind: string; spec?: any; data?: Record<string, string>; metadata: { name: string } };

/** The manifest as podman can play it (see the header), and the pieces the test needs. */
function render(file: string, { withoutSidecar = false } = {}) {
  const docs = YAML.parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kubernetes', file), 'utf8')).map(
    (d) => d.toJS() as Doc,
  );
  const map: Record<string, string> = {
    [gen.IMAGES.init]: images.IMAGES.init,
    [gen.IMAGES.sidecar]: images.IMAGES.sidecar,
    [gen.IMAGES.app]: nodeBase,
  };
  let sidecar: any;
  for (const d of docs) {
    const spec = d.spec?.template?.spec;
    if (!spec) continue;
    spec.restartPolicy = 'OnFailure';
    for (const v of spec.volumes ?? []) if (v.emptyDir) volumes.add(v.name);
    if (withoutSidecar) {
      sidecar = spec.containers.find((c: { name: string }) => c.name === 'titan-perf-sidecar');
      spec.containers = spec.containers.filter((c: unknown) => c !== sidecar);
    }
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      c.image = map[c.image] ?? c.image;
      const ports = Object.fromEntries(
        (c.ports ?? []).map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]),
      );
      delete c.ports;
      for (const probe of ['readinessProbe', 'livenessProbe'])
        if (c[probe]?.httpGet && ports[c[probe].httpGet.port]) c[probe].httpGet.port = ports[c[probe].httpGet.port];
      for (const e of c.env ?? []) {
        const path = e.valueFrom?.fieldRef?.fieldPath;
        if (path === 'metadata.namespace' || path === 'spec.nodeName') {
          e.value = path === 'spec.nodeName' ? 'podman-node' : 'podman-test';
          delete e.valueFrom;
        }
      }
    }
  }
  const out = join(work, file.replace('/', '-'));
  writeFileSync(out, docs.map((d) => YAML.stringify(d)).join('---\n'));
  const deployment = docs.find((d) => d.kind === 'Deployment')!;
  return {
    path: out,
    pod: `${deployment.metadata.name}-pod-0`,
    sidecar,
    config: docs.find((d) => d.kind === 'ConfigMap'),
  };
}

function play(file: string, opts?: { withoutSidecar?: boolean }) {
  const r = render(file, opts);
  const t0 = Date.now();
  podman(['kube', 'play', '--network', 'none', r.path]);
  played.push(r.path);
  timings[`play ${file}`] = Date.now() - t0;
  return r;
}

function pidOf(container: string): number {
  return Number(podman(['inspect', '--format', '{{.State.Pid}}', container]).trim());
}

/** Runs a command in the pod's network namespace (loopback only), from the host side. */
function inPodNetns(pid: number, cmd: string[]): string {
  return execFileSync('nsenter', ['-t', String(pid), '-n', ...cmd], { encoding: 'utf8' });
}

async function scrape(pid: number): Promise<string> {
  return waitFor(
    'a Prometheus scrape with the preload metrics',
    () => {
      const r = spawnSync(
        'nsenter',
        [
          '-t',
          String(pid),
          '-n',
          process.execPath,
          '-e',
          "fetch('http://127.0.0.1:9464/metrics').then(r => r.text()).then(t => process.stdout.write(t), () => process.exit(1))",
        ],
        { encoding: 'utf8' },
      );
      return r.status === 0 && /^nodejs_eventloop_utilization\{/m.test(r.stdout) ? r.stdout : undefined;
    },
    60_000,
  );
}

function inspect(container: string): any {
  return JSON.parse(podman(['inspect', container]))[0];
}

function down(path: string) {
  images.podman(['kube', 'down', path]);
}

describe.skipIf(unavailable)('manifests in real containers (podman, --network none)', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'titan-perf-kube-'));
    const t0 = Date.now();
    const base = images.ensureBaseImage((l: string) => process.stderr.write(`${l}\n`));
    timings.base = base.built ? base.ms : 0;
    const t1 = Date.now();
    nodeBase = images.ensureNodeBase(base.ref, 24).ref;
    timings.nodeBase = Date.now() - t1;
    timings.images = images.buildImages({ base: base.ref, nodeBase }).ms;
    timings.setup = Date.now() - t0;
    process.stderr.write(`kubernetes images: ${JSON.stringify(timings)}\n`);
  }, 30 * 60_000);

  afterAll(() => {
    for (const p of played) down(p);
    for (const v of volumes) images.podman(['volume', 'rm', '-f', v]);
    images.removeImages(Object.values(images.IMAGES));
    if (work) rmSync(work, { recursive: true, force: true });
    process.stderr.write(`kubernetes timings (ms): ${JSON.stringify(timings)}\n`);
    expect(hostSysctlSnapshot()).toEqual(hostBefore);
    expect(podmanLinks()).toEqual(linksBefore);
    expect(forwarding()).toEqual(forwardingBefore);
  }, 5 * 60_000);

  it('images: small, and the init image runs as a non-root user', () => {
    const init = inspect(images.IMAGES.init);
    expect(init.Config.User).toBe('65532:65532');
    const mib = (ref: string) => images.imageSize(ref) / 2 ** 20;
    process.stderr.write(
      `image sizes (MiB): init ${mib(images.IMAGES.init).toFixed(1)}, sidecar ${mib(images.IMAGES.sidecar).toFixed(1)}, node base ${mib(nodeBase).toFixed(1)}\n`,
    );
    // The init image is the base plus the ~1 MiB preload folder.
    expect(mib(images.IMAGES.init)).toBeLessThan(100);
  });

  it('preload: the init container copies the preload, the service starts with it, its metrics are scraped', async () => {
    const { path, pod } = play('preload/deployment.yaml');
    try {
      const app = `${pod}-pricing`;
      const pid = await waitFor('the service running', () => inspect(app).State.Running && pidOf(app), 60_000);
      const files = podman(['exec', app, 'ls', '/titan-perf']).trim().split('\n');
      expect(files).toEqual(expect.arrayContaining(['preload.js', 'otel.js', 'package.json']));
      // What the service set is kept, the preload is there once.
      expect(podman(['exec', app, 'printenv', 'NODE_OPTIONS']).trim()).toBe(
        '--max-old-space-size=192 --require /titan-perf/preload.js',
      );
      const text = await scrape(pid);
      const target = /^target_info\{(.*)\} 1$/m.exec(text)![1];
      expect(target).toContain(`k8s_pod_name="${pod}"`);
      expect(target).toContain('service_name="pricing"');
      expect(target).toContain('k8s_container_name="pricing"');
      expect(text).toMatch(/^v8js_memory_heap_used\{/m);
      expect(inPodNetns(pid, ['ip', '-o', 'link']).trim().split('\n')).toHaveLength(1);
    } finally {
      down(path);
    }
  });

  it('least privilege: no privileged container, no capability, read-only root filesystems, a non-root service', async () => {
    const { path, pod } = play('least-privilege/deployment.yaml');
    try {
      const app = `${pod}-pricing`;
      const pid = await waitFor('the service running', () => inspect(app).State.Running && pidOf(app), 60_000);
      const containers = podman(['ps', '-a', '--filter', `pod=${pod}`, '--format', '{{.Names}}'])
        .trim()
        .split('\n')
        .filter((n) => !n.endsWith('-infra'));
      expect(containers.length).toBeGreaterThanOrEqual(1);
      for (const name of containers) {
        const c = inspect(name);
        expect(c.HostConfig.Privileged, name).toBe(false);
        expect(c.HostConfig.CapAdd ?? [], name).toEqual([]);
        expect(c.HostConfig.ReadonlyRootfs, name).toBe(true);
      }
      expect(inspect(app).Config.User).toBe('10001:10001');
      await scrape(pid);
      // The service writes nothing on its read-only root: the preload only reads its volume.
      expect(podman(['logs', app])).not.toMatch(/titan-perf: .*(EROFS|read-only)/i);
    } finally {
      down(path);
    }
  });

  it("sidecar: applies its plan in the pod's network namespace with NET_ADMIN only, and rolls back from its journal after a restart", async () => {
    const { path, pod, sidecar, config } = play('sidecar/deployment.yaml', { withoutSidecar: true });
    const confDir = mkdtempSync(join(work, 'sidecar-config-'));
    writeFileSync(join(confDir, 'config.yaml'), config!.data!['config.yaml']);
    const journal = `${pod}-journal`;
    volumes.add(journal);
    const name = `${pod}-titan-perf-sidecar`;
    const caps = sidecar.securityContext.capabilities;
    try {
      const app = `${pod}-pricing`;
      const pid = await waitFor('the service running', () => inspect(app).State.Running && pidOf(app), 60_000);
      const before = inPodNetns(pid, ['cat', '/proc/sys/net/core/somaxconn']).trim();
      podman([
        'run',
        '-d',
        '--name',
        name,
        '--pod',
        pod,
        '--restart',
        'on-failure',
        '--cap-drop',
        caps.drop.join(','),
        '--cap-add',
        caps.add.join(','),
        '--security-opt',
        'unmask=/proc/sys',
        '--security-opt',
        'no-new-privileges',
        '--read-only',
        '--user',
        String(sidecar.securityContext.runAsUser),
        '-v',
        `${confDir}:/etc/titan-perf:ro`,
        '-v',
        `${journal}:/var/lib/titan-perf`,
        images.IMAGES.sidecar,
        ...sidecar.args,
      ]);
      await waitFor(
        'the plan applied in the pod',
        () => inPodNetns(pid, ['cat', '/proc/sys/net/core/somaxconn']).trim() === '8192',
        60_000,
      ).catch((err) => {
        throw new Error(
          `${err.message}\nsidecar log:\n${images.podman(['logs', name]).stderr}${images.podman(['logs', name]).stdout}`,
        );
      });
      expect(hostSysctlSnapshot()).toEqual(hostBefore);
      expect(inspect(name).HostConfig.Privileged).toBe(false);
      // A crash (SIGKILL to the sidecar's own process, not through podman, which would not restart it):
      // no rollback-on-exit runs; podman restarts the container, whose journal is on the volume.
      process.kill(pidOf(name), 'SIGKILL');
      await waitFor(
        'the sidecar restarted',
        () => inspect(name).RestartCount >= 1 && inspect(name).State.Running,
        60_000,
      );
      expect(inPodNetns(pid, ['cat', '/proc/sys/net/core/somaxconn']).trim()).toBe('8192');
      const r = images.podman([
        'exec',
        name,
        'node',
        '/opt/titan-perf/sidecar.js',
        'rollback',
        '--config',
        '/etc/titan-perf/config.yaml',
        '--state-dir',
        '/var/lib/titan-perf',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(inPodNetns(pid, ['cat', '/proc/sys/net/core/somaxconn']).trim()).toBe(before);
      expect(hostSysctlSnapshot()).toEqual(hostBefore);
    } finally {
      images.podman(['rm', '-f', name]);
      down(path);
    }
  }, 240_000);

  it("the catalogue's safe sysctls are accepted in a pod network namespace by a container with no privilege and no capability", () => {
    // podman 4.3 kube play does not apply spec.securityContext.sysctls, so the same list goes through
    // podman's own --sysctl, which sets them the way the kubelet does: in the pod's namespace, before the container.
    const list = gen.safeSysctls();
    const r = images.podman([
      'run',
      '--rm',
      '--network',
      'none',
      '--cap-drop',
      'ALL',
      '--user',
      '65532',
      '--read-only',
      ...list.flatMap((s) => ['--sysctl', `${s.name}=${s.value}`]),
      '--entrypoint',
      'cat',
      images.IMAGES.init,
      ...list.map((s) => join('/proc/sys', ...s.name.split('.'))),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim().replace(/\s+/g, ' ')),
    ).toEqual(list.map((s) => s.value));
    expect(hostSysctlSnapshot()).toEqual(hostBefore);
  });

  it('an emptyDir too small for the preload: the init container fails with "No space left on device", so the pod never starts without it', () => {
    const r = images.podman([
      'run',
      '--rm',
      '--network',
      'none',
      '--mount',
      'type=tmpfs,destination=/titan-perf,tmpfs-size=64k',
      images.IMAGES.init,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/No space left on device/);
  });
});
