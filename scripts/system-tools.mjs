// The system tools the test suite runs for real, with the Debian package that
// brings each one and the test folders that need it. `npm test` checks this
// list before any test runs (scripts/system-setup.mjs); keep it the only place
// a test's system dependency is written down.
//
// required: false marks a tool the tests can do without (they fall back or do
// not use it); it is installed along with the others, but its absence alone
// never stops a run.
export const SYSTEM_TOOLS = [
  {
    command: 'redis-server',
    package: 'redis-server',
    folders: ['test/redis', 'test/api', 'test/telemetry'],
    why: 'a real Redis server per test on a free port (the Redis store, guards, lease, advisory mode, metrics)',
  },
  {
    command: 'redis-cli',
    package: 'redis-tools',
    folders: ['test/redis', 'test/api'],
    why: 'an independent reader of the Redis settings the sidecar and the examples changed',
  },
  {
    command: 'logrotate',
    package: 'logrotate',
    folders: ['test/sidecar', 'test/telemetry'],
    why: 'the sidecar runs the real logrotate on temp files',
  },
  {
    command: 'gzip',
    package: 'gzip',
    folders: ['test/sidecar'],
    why: 'logrotate compresses rotated logs with it',
  },
  {
    command: 'prometheus',
    package: 'prometheus',
    folders: ['test/telemetry'],
    why: 'a real Prometheus scrapes the exporter',
  },
  {
    command: 'ip',
    package: 'iproute2',
    folders: ['test/sidecar', 'test/api', 'test/scripts', 'test/kubernetes'],
    why: 'network namespaces (ip netns) so sysctls are applied there, never on the host (the demo too); links in a pod',
  },
  {
    command: 'sysctl',
    package: 'procps',
    folders: ['test/sidecar', 'test/api'],
    why: 'an independent reader of the sysctls in each namespace',
  },
  {
    command: 'unshare',
    package: 'util-linux',
    folders: ['test/sidecar', 'test/api'],
    why: 'a private mount namespace for a read-only procfs and a private /var/lib',
  },
  {
    command: 'nsenter',
    package: 'util-linux',
    folders: ['test/kubernetes'],
    why: "runs checks inside a pod's network namespace",
  },
  {
    command: 'mount',
    package: 'mount',
    folders: ['test/sidecar', 'test/api'],
    why: 'bind mounts inside that private mount namespace',
  },
  {
    command: 'openssl',
    package: 'openssl',
    folders: ['test/preload'],
    why: 'a fresh self-signed certificate per run (a checked-in test pair is used without it)',
    required: false,
  },
  {
    command: 'wrk',
    package: 'wrk',
    folders: ['bench'],
    why: 'the load generator of `npm run bench` (no test uses it; the benchmark falls back to autocannon)',
    required: false,
  },
  // Containers (the Kubernetes images and manifests, played with podman). A plain
  // `apt-get install --no-install-recommends podman` as root on Debian 12 also
  // brings conmon, containernetworking-plugins and iptables as dependencies;
  // uidmap, slirp4netns and fuse-overlayfs are only for rootless podman.
  {
    command: 'podman',
    package: 'podman',
    folders: ['test/kubernetes'],
    why: 'builds the images from their Dockerfiles and plays the Kubernetes manifests (podman kube play)',
  },
  {
    command: 'runc',
    package: 'runc',
    folders: ['test/kubernetes'],
    why: "podman's runtime (crun, apt's first choice otherwise, fails on hybrid cgroup hosts)",
  },
  {
    command: 'catatonit',
    package: 'catatonit',
    folders: ['test/kubernetes'],
    why: "the init of podman's locally built pod infra (pause) image",
  },
  {
    command: 'debootstrap',
    package: 'debootstrap',
    folders: ['test/kubernetes'],
    why: 'builds the minimal Debian base image locally (no registry is needed; it needs a Debian mirror)',
  },
];
