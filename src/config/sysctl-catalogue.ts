/**
 * The sysctls titan-perf knows: type, allowed range, default and hft targets,
 * direction and scope. Pure data, because the config defaults are built from
 * it and the preload loads those at start-up.
 *
 * Scope facts (checked on Linux 6.18 inside `ip netns add` namespaces, and in
 * the kernel's net/core/sysctl_net_core.c history):
 * - `net.ipv4.*` and `net.core.somaxconn` are per network namespace: in a pod
 *   they change the pod only.
 * - `net.core.rmem_max`, `wmem_max` are global; since Linux 6.10 a non-initial
 *   namespace shows them read-only (0444), before that not at all.
 *   `net.core.netdev_max_backlog`, `busy_poll`, `busy_read` exist only in the
 *   host namespace. All of them need a DaemonSet with hostNetwork.
 * - `vm.*` and `fs.*` are not namespaced: one write changes the whole node.
 */
import type { Direction } from '../engine/types';

export type SysctlScope = 'pod' | 'node';

/** A dotted sysctl key: segments of letters, digits, `_` and `-` (no `/`, `..` or absolute paths). */
export const SYSCTL_KEY_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/;

interface SpecBase {
  /** The sysctl name, dotted. */
  key: string;
  /** Its name under `system.kernelParams` (camelCase, as the public config spells them: netCoreSomaxconn). */
  param: string;
  direction: Direction;
  scope: SysctlScope;
  /** Global storage: absent or read-only outside the host network namespace. */
  hostNetnsOnly?: boolean;
  /** Kubernetes version from which the key is in the kubelet's safe set (settable via securityContext.sysctls). */
  k8sSafeSince?: string;
  /** One line for the README table and `plan`. */
  doc: string;
}

export interface IntSpec extends SpecBase {
  type: 'int';
  min: number;
  max: number;
  unit?: string;
  default: number | null;
  hft?: number | null;
}

/** A whitespace-separated tuple such as `tcp_rmem` (min default max). */
export interface IntsSpec extends SpecBase {
  type: 'ints';
  count: number;
  min: number;
  max: number;
  default: number[] | null;
  hft?: number[] | null;
}

export interface EnumSpec extends SpecBase {
  type: 'enum';
  values: readonly string[];
  default: string | null;
  hft?: string | null;
  /** A procfs file listing what this kernel offers (e.g. tcp_available_congestion_control). */
  availableFrom?: string;
  /**
   * A procfs file listing what a network namespace other than the host's may
   * choose (tcp_allowed_congestion_control): the kernel refuses anything else
   * there with EPERM, whatever the privilege.
   */
  allowedFrom?: string;
}

export type SysctlSpec = IntSpec | IntsSpec | EnumSpec;

// Largest fs.nr_open the kernel accepts on 64-bit (sysctl_nr_open_max, rounded to BITS_PER_LONG).
const NR_OPEN_MAX = 1_073_741_816;

export const SYSCTL_CATALOGUE: readonly SysctlSpec[] = [
  {
    key: 'net.core.somaxconn',
    param: 'netCoreSomaxconn',
    type: 'int',
    min: 128,
    max: 4_194_304,
    default: 65535,
    direction: 'raise-only',
    scope: 'pod',
    doc: 'accept-queue length cap for listen(); Node asks for 511, the kernel clamps to this',
  },
  {
    key: 'net.ipv4.tcp_max_syn_backlog',
    param: 'tcpMaxSynBacklog',
    type: 'int',
    min: 128,
    max: 4_194_304,
    default: 65535,
    direction: 'raise-only',
    scope: 'pod',
    doc: 'half-open (SYN_RECV) connections kept per listener before SYN cookies',
  },
  {
    key: 'net.ipv4.tcp_rmem',
    param: 'tcpRmem',
    type: 'ints',
    count: 3,
    min: 4096,
    max: 2_147_483_647,
    default: [4096, 131072, 16_777_216],
    direction: 'raise-only',
    scope: 'pod',
    k8sSafeSince: '1.32',
    doc: 'TCP receive buffer min/default/max, bytes: the autotuning ceiling for throughput',
  },
  {
    key: 'net.ipv4.tcp_wmem',
    param: 'tcpWmem',
    type: 'ints',
    count: 3,
    min: 4096,
    max: 2_147_483_647,
    default: [4096, 16384, 16_777_216],
    direction: 'raise-only',
    scope: 'pod',
    k8sSafeSince: '1.32',
    doc: 'TCP send buffer min/default/max, bytes',
  },
  {
    key: 'net.ipv4.tcp_congestion_control',
    param: 'tcpCongestionControl',
    type: 'enum',
    values: ['bbr', 'cubic', 'reno'],
    availableFrom: 'net.ipv4.tcp_available_congestion_control',
    allowedFrom: 'net.ipv4.tcp_allowed_congestion_control',
    default: 'bbr',
    direction: 'exact',
    scope: 'pod',
    doc: 'congestion control for new connections; bbr keeps queues short (needs the tcp_bbr module)',
  },
  {
    key: 'net.ipv4.tcp_fastopen',
    param: 'tcpFastopen',
    type: 'int',
    min: 0,
    max: 3,
    default: 3,
    direction: 'exact',
    scope: 'pod',
    doc: 'TCP Fast Open bitmask: 1 client, 2 server, 3 both (saves one RTT on reconnect)',
  },
  {
    key: 'net.ipv4.tcp_slow_start_after_idle',
    param: 'tcpSlowStartAfterIdle',
    type: 'int',
    min: 0,
    max: 1,
    default: 0,
    direction: 'exact',
    scope: 'pod',
    doc: '0 keeps the congestion window of idle keep-alive connections (no slow start after a pause)',
  },
  {
    key: 'net.ipv4.tcp_tw_reuse',
    param: 'tcpTwReuse',
    type: 'int',
    min: 0,
    max: 2,
    default: 1,
    direction: 'exact',
    scope: 'pod',
    doc: 'reuse TIME_WAIT sockets for new outbound connections (1 all, 2 loopback only)',
  },
  {
    key: 'net.ipv4.ip_local_port_range',
    param: 'ipLocalPortRange',
    type: 'ints',
    count: 2,
    min: 1024,
    max: 65535,
    default: [1024, 65535],
    direction: 'exact',
    scope: 'pod',
    k8sSafeSince: '1.13',
    doc: 'ephemeral ports for outbound connections (first last)',
  },
  {
    key: 'net.ipv4.tcp_fin_timeout',
    param: 'tcpFinTimeout',
    type: 'int',
    min: 1,
    max: 600,
    unit: 's',
    default: 15,
    hft: 10,
    direction: 'exact',
    scope: 'pod',
    k8sSafeSince: '1.29',
    doc: 'seconds an orphaned connection stays in FIN_WAIT_2',
  },
  {
    key: 'net.ipv4.tcp_keepalive_time',
    param: 'tcpKeepaliveTime',
    type: 'int',
    min: 1,
    max: 32767,
    unit: 's',
    default: 300,
    hft: 60,
    direction: 'exact',
    scope: 'pod',
    k8sSafeSince: '1.29',
    doc: 'idle seconds before the first keep-alive probe (kernel default 7200)',
  },
  {
    key: 'net.ipv4.tcp_keepalive_intvl',
    param: 'tcpKeepaliveIntvl',
    type: 'int',
    min: 1,
    max: 32767,
    unit: 's',
    default: 30,
    hft: 10,
    direction: 'exact',
    scope: 'pod',
    k8sSafeSince: '1.29',
    doc: 'seconds between keep-alive probes',
  },
  {
    key: 'net.ipv4.tcp_keepalive_probes',
    param: 'tcpKeepaliveProbes',
    type: 'int',
    min: 1,
    max: 127,
    default: 5,
    hft: 3,
    direction: 'exact',
    scope: 'pod',
    k8sSafeSince: '1.29',
    doc: 'unanswered probes before a connection is dropped',
  },
  {
    key: 'net.ipv4.tcp_notsent_lowat',
    param: 'tcpNotsentLowat',
    type: 'int',
    min: 1,
    max: 4_294_967_295,
    default: null,
    hft: 16384,
    direction: 'exact',
    scope: 'pod',
    doc: 'unsent bytes a socket may queue before it stops being writable: smaller means fresher data, less buffering',
  },
  {
    key: 'net.core.rmem_max',
    param: 'netCoreRmemMax',
    type: 'int',
    min: 212_992,
    max: 2_147_483_647,
    default: 16_777_216,
    direction: 'raise-only',
    scope: 'node',
    hostNetnsOnly: true,
    doc: 'largest receive buffer a socket may request with SO_RCVBUF, bytes',
  },
  {
    key: 'net.core.wmem_max',
    param: 'netCoreWmemMax',
    type: 'int',
    min: 212_992,
    max: 2_147_483_647,
    default: 16_777_216,
    direction: 'raise-only',
    scope: 'node',
    hostNetnsOnly: true,
    doc: 'largest send buffer a socket may request with SO_SNDBUF, bytes',
  },
  {
    key: 'net.core.netdev_max_backlog',
    param: 'netCoreNetdevMaxBacklog',
    type: 'int',
    min: 1000,
    max: 4_194_304,
    default: 16384,
    direction: 'raise-only',
    scope: 'node',
    hostNetnsOnly: true,
    doc: 'packets queued per CPU when the NIC delivers faster than the kernel drains',
  },
  {
    key: 'net.core.busy_poll',
    param: 'netCoreBusyPoll',
    type: 'int',
    min: 0,
    max: 1_000_000,
    unit: 'µs',
    default: null,
    hft: 50,
    direction: 'exact',
    scope: 'node',
    hostNetnsOnly: true,
    doc: 'µs poll()/epoll busy-wait on the device queue: lower latency for more CPU',
  },
  {
    key: 'net.core.busy_read',
    param: 'netCoreBusyRead',
    type: 'int',
    min: 0,
    max: 1_000_000,
    unit: 'µs',
    default: null,
    hft: 50,
    direction: 'exact',
    scope: 'node',
    hostNetnsOnly: true,
    doc: 'µs a blocking read busy-waits on the device queue',
  },
  {
    key: 'vm.swappiness',
    param: 'vmSwappiness',
    type: 'int',
    min: 0,
    max: 200,
    default: 1,
    direction: 'exact',
    scope: 'node',
    doc: 'how eagerly anonymous memory is swapped; 1 swaps only to avoid OOM',
  },
  {
    key: 'vm.dirty_ratio',
    param: 'vmDirtyRatio',
    type: 'int',
    min: 1,
    max: 100,
    unit: '%',
    default: 10,
    direction: 'exact',
    scope: 'node',
    doc: '% of memory dirty before writers block on write-back',
  },
  {
    key: 'vm.dirty_background_ratio',
    param: 'vmDirtyBackgroundRatio',
    type: 'int',
    min: 1,
    max: 100,
    unit: '%',
    default: 5,
    direction: 'exact',
    scope: 'node',
    doc: '% of memory dirty before background write-back starts (smaller, steadier flushes)',
  },
  {
    key: 'fs.file-max',
    param: 'fsFileMax',
    type: 'int',
    min: 8192,
    max: Number.MAX_SAFE_INTEGER,
    default: 2_097_152,
    direction: 'raise-only',
    scope: 'node',
    doc: 'open files system-wide (modern kernels default to LONG_MAX, which raise-only keeps)',
  },
  {
    key: 'fs.nr_open',
    param: 'fsNrOpen',
    type: 'int',
    min: 1024,
    max: NR_OPEN_MAX,
    default: 1_048_576,
    direction: 'raise-only',
    scope: 'node',
    doc: 'per-process ceiling for RLIMIT_NOFILE',
  },
];

/**
 * The kubelet's safe set (pkg/kubelet/sysctl/safe_sysctls.go): a pod may set
 * these through `securityContext.sysctls` without privilege. tcp_keepalive_*
 * and tcp_fin_timeout from 1.29, tcp_rmem/tcp_wmem from 1.32.
 */
export const K8S_SAFE_SYSCTLS: readonly string[] = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
];

export function specByKey(key: string): SysctlSpec | undefined {
  return SYSCTL_CATALOGUE.find((s) => s.key === key);
}

export function specByParam(param: string): SysctlSpec | undefined {
  return SYSCTL_CATALOGUE.find((s) => s.param === param);
}
