/**
 * Which sysctls `extraSysctls` may name. The sidecar runs as root, so a key
 * in the config is a write the ConfigMap's editor makes as root: only the
 * tuning namespaces are open (net.*, vm.*, fs.*; node-wide ones still need
 * allowNodeScope), and inside them the keys that hand out code execution or
 * weaken the kernel's defences are refused by name with the reason.
 */

/** Namespaces an extra key may live in. */
export const EXTRA_SYSCTL_NAMESPACES = ['net.', 'vm.', 'fs.'] as const;

interface Denied {
  /** A key, or a prefix ending in '.', or a pattern over one node name ('*'). */
  match: string;
  why: string;
}

const RUNS_AS_ROOT = 'names a program the kernel runs as root on the node';

/** Keys refused even inside an open namespace, and the well-known ones outside, for a precise message. */
export const DENIED_SYSCTLS: readonly Denied[] = [
  { match: 'kernel.core_pattern', why: `${RUNS_AS_ROOT} on every crash dump (a pattern starting with '|')` },
  { match: 'kernel.modprobe', why: `${RUNS_AS_ROOT} whenever a module is requested` },
  { match: 'kernel.hotplug', why: `${RUNS_AS_ROOT} on every device event` },
  { match: 'kernel.uevent_helper', why: `${RUNS_AS_ROOT} on every device event` },
  { match: 'kernel.poweroff_cmd', why: `${RUNS_AS_ROOT} on an orderly power-off` },
  { match: 'kernel.usermodehelper.', why: 'sets the capabilities of programs the kernel starts as root' },
  { match: 'kernel.yama.', why: 'lets processes trace and read the memory of processes they do not own' },
  { match: 'kernel.kptr_restrict', why: 'exposes kernel addresses, which defeats KASLR' },
  { match: 'kernel.dmesg_restrict', why: 'exposes the kernel log, with its addresses, to every user' },
  { match: 'kernel.perf_event_paranoid', why: 'opens kernel profiling, and its address leaks, to unprivileged users' },
  { match: 'kernel.unprivileged_bpf_disabled', why: 'lets unprivileged users load BPF programs into the kernel' },
  {
    match: 'kernel.unprivileged_userns_clone',
    why: 'lets unprivileged users create user namespaces, a common path to kernel exploits',
  },
  { match: 'kernel.kexec_load_disabled', why: 'allows replacing the running kernel' },
  { match: 'kernel.randomize_va_space', why: 'turns off address-space randomisation for every process' },
  { match: 'kernel.sysrq', why: 'enables magic SysRq: reboot, crash or kill everything from a keyboard or /proc' },
  { match: 'kernel.panic', why: 'decides whether and when the node reboots itself' },
  {
    match: 'fs.binfmt_misc.',
    why: 'registers an interpreter that runs, with the credentials of setuid binaries, for matching executables',
  },
  {
    match: 'fs.suid_dumpable',
    why: 'lets setuid programs dump core (their secrets), and with core_pattern, run a program as root',
  },
  { match: 'fs.protected_symlinks', why: 'weakens the protection of root against symlink races in shared directories' },
  {
    match: 'fs.protected_hardlinks',
    why: 'weakens the protection of root against hardlink races in shared directories',
  },
  { match: 'fs.protected_fifos', why: 'weakens the protection of root against FIFO spoofing in shared directories' },
  { match: 'fs.protected_regular', why: 'weakens the protection of root against file spoofing in shared directories' },
  { match: 'vm.mmap_min_addr', why: 'makes kernel NULL-pointer bugs exploitable when lowered' },
  { match: 'vm.unprivileged_userfaultfd', why: 'is a common tool for exploiting kernel races' },
  { match: 'vm.panic_on_oom', why: 'turns an out-of-memory in one pod into a panic of the whole node' },
  { match: 'net.core.bpf_jit_enable', why: 'controls the BPF JIT, a target of JIT-spraying attacks' },
  { match: 'net.core.bpf_jit_harden', why: 'turns off the hardening of the BPF JIT against JIT spraying' },
  { match: 'net.core.bpf_jit_kallsyms', why: 'exposes the addresses of JIT-compiled BPF programs' },
  { match: 'net.core.bpf_jit_limit', why: 'lifts the cap on memory unprivileged BPF programs may lock' },
  { match: 'net.ipv4.ip_forward', why: 'makes this network namespace route traffic between networks it joins' },
  { match: 'net.ipv4.conf.*.forwarding', why: 'makes this network namespace route traffic between networks it joins' },
  { match: 'net.ipv6.conf.*.forwarding', why: 'makes this network namespace route traffic between networks it joins' },
  { match: 'net.ipv4.conf.*.route_localnet', why: 'makes services bound to 127.0.0.1 reachable from the network' },
];

/** Why `key` may not be set through extraSysctls; undefined when it may. */
export function extraSysctlRefusal(key: string): string | undefined {
  for (const d of DENIED_SYSCTLS) if (matches(d.match, key)) return `refused: it ${d.why}`;
  if (!EXTRA_SYSCTL_NAMESPACES.some((ns) => key.startsWith(ns))) {
    return `refused: only ${EXTRA_SYSCTL_NAMESPACES.map((n) => `${n}*`).join(', ')} keys can be added (kernel.*, dev.*, debug.* and the rest govern the node's security, not performance)`;
  }
  return undefined;
}

function matches(pattern: string, key: string): boolean {
  if (pattern.endsWith('.')) return key.startsWith(pattern);
  if (!pattern.includes('*')) return key === pattern;
  const p = pattern.split('.');
  const k = key.split('.');
  return p.length === k.length && p.every((seg, i) => seg === '*' || seg === k[i]);
}
