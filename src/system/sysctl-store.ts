/**
 * Kernel sysctls through procfs files, no shell and no `sysctl` binary. Only
 * catalogued keys and the config's `extraSysctls` allow-list are read or
 * written; node-wide keys only with `allowNodeScope`.
 */
import { closeSync, constants, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SystemConfig } from '../config/sections/system';
import { meetsDirection } from '../engine/direction';
import type { DesiredSetting, Store } from '../engine/types';
import { TitanPerfError } from '../errors';
import {
  K8S_SAFE_SYSCTLS,
  SYSCTL_CATALOGUE,
  specByKey,
  type SysctlScope,
  type SysctlSpec,
} from '../config/sysctl-catalogue';
import { sysctlPath } from './sysctl-path';

export interface SysctlStoreOptions {
  system: SystemConfig;
  /** procfs mount to use; `/proc` unless testing or reading a host mount. */
  procRoot?: string;
}

export interface SysctlAccess {
  /** Set when `<procRoot>/sys` cannot be written, naming the missing privilege. */
  readOnly?: string;
  /** Desired keys a pod could set without privilege through `securityContext.sysctls`. */
  kubernetesSysctls: { name: string; value: string }[];
}

interface Wanted {
  key: string;
  value: string;
  spec?: SysctlSpec;
  scope: SysctlScope;
}

const PRINTABLE_VALUE = /^[\x20-\x7e\t]{1,256}$/;
const PROC_NET_INIT_INO = 0xeffffff9;

export class SysctlStore implements Store {
  readonly name = 'sysctl';
  readonly procRoot: string;
  private readonly system: SystemConfig;
  private readonly wanted: Wanted[];
  private readonly allowed: Set<string>;

  constructor(opts: SysctlStoreOptions) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.system = opts.system;
    this.wanted = [];
    for (const spec of SYSCTL_CATALOGUE) {
      const value = opts.system.kernelParams[spec.param];
      if (value === null || value === undefined) continue;
      this.wanted.push({
        key: spec.key,
        value: Array.isArray(value) ? value.join('\t') : String(value),
        spec,
        scope: spec.scope,
      });
    }
    for (const [key, value] of Object.entries(opts.system.extraSysctls)) {
      sysctlPath(this.procRoot, key); // throws on a traversal or malformed key, before anything is touched
      const spec = specByKey(key);
      if (spec) {
        throw new TitanPerfError(
          'TITAN_PERF_SYSCTL_KEY_INVALID',
          `system.extraSysctls.${key}: this key is catalogued; set system.kernelParams.${spec.param} instead`,
        );
      }
      const text = String(value);
      if (!PRINTABLE_VALUE.test(text)) {
        throw new TitanPerfError(
          'TITAN_PERF_SYSCTL_VALUE_INVALID',
          `system.extraSysctls.${key}: got ${JSON.stringify(value)}; expected an integer or printable text up to 256 characters`,
        );
      }
      this.wanted.push({ key, value: text, scope: key.startsWith('net.') ? 'pod' : 'node' });
    }
    this.allowed = new Set([...SYSCTL_CATALOGUE.map((s) => s.key), ...Object.keys(opts.system.extraSysctls)]);
  }

  /** Whether procfs can be written at all, and what Kubernetes could set instead. */
  access(): SysctlAccess {
    const kubernetesSysctls = this.wanted
      .filter((w) => K8S_SAFE_SYSCTLS.includes(w.key))
      .map((w) => ({ name: w.key, value: w.value.replace(/\t/g, ' ') }));
    return { readOnly: this.readOnlyReason(), kubernetesSysctls };
  }

  async desired(): Promise<DesiredSetting[]> {
    const readOnly = this.readOnlyReason();
    return this.wanted.map((w) => {
      const setting: DesiredSetting = { key: w.key, value: w.value, direction: w.spec?.direction ?? 'exact' };
      const skip = this.skipReason(w, readOnly);
      if (skip) setting.skip = skip;
      return setting;
    });
  }

  async read(key: string): Promise<string | null> {
    const path = sysctlPath(this.procRoot, key);
    try {
      return readFileSync(path, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw new TitanPerfError(
        'TITAN_PERF_SYSCTL_READ_FAILED',
        `cannot read ${key} (${path}): ${code ?? (err as Error).message}`,
        { cause: err },
      );
    }
  }

  async write(key: string, value: string): Promise<void> {
    if (!this.allowed.has(key)) {
      throw new TitanPerfError(
        'TITAN_PERF_SYSCTL_UNKNOWN_KEY',
        `sysctl ${key} is neither catalogued nor listed in system.extraSysctls; refused`,
      );
    }
    if (typeof value !== 'string' || !PRINTABLE_VALUE.test(value))
      throw new TitanPerfError(
        'TITAN_PERF_SYSCTL_VALUE_INVALID',
        `sysctl ${key}: refusing to write ${JSON.stringify(value)}`,
      );
    const path = sysctlPath(this.procRoot, key);
    // procfs never creates keys; under a fake root, a missing file must not be invented either.
    try {
      statSync(path);
    } catch {
      throw new TitanPerfError('TITAN_PERF_SYSCTL_MISSING', `sysctl ${key} does not exist here (${path})`);
    }
    try {
      writeFileSync(path, `${value}\n`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
        const scope = specByKey(key)?.scope ?? (key.startsWith('net.') ? 'pod' : 'node');
        throw new TitanPerfError(
          'TITAN_PERF_SYSCTL_READONLY',
          `cannot write ${key} (${code}): ${privilegeHint(scope, code)}`,
          { cause: err },
        );
      }
      if (code === 'EINVAL' || code === 'ERANGE') {
        throw new TitanPerfError(
          'TITAN_PERF_SYSCTL_REFUSED',
          `the kernel refused ${key} = ${JSON.stringify(value)} (${code})`,
          { cause: err },
        );
      }
      throw new TitanPerfError('TITAN_PERF_SYSCTL_WRITE_FAILED', `cannot write ${key}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** The host's network namespace has a fixed inode (PROC_NET_INIT_INO); elsewhere, or when unknown, a pod is assumed. */
  private inHostNetns(): boolean {
    try {
      return statSync(join(this.procRoot, 'self', 'ns', 'net')).ino === PROC_NET_INIT_INO;
    } catch {
      return false;
    }
  }

  satisfies(current: string | null, desired: DesiredSetting): boolean {
    return meetsDirection(current, desired.value, desired.direction);
  }

  /**
   * Whether procfs can be written at all, asked of the kernel on one
   * writable-looking sysctl file. EROFS is a read-only mount (an unprivileged
   * container); then nothing under it can be written, whatever the key.
   */
  private readOnlyReason(): string | undefined {
    for (const w of this.wanted) {
      let path: string;
      try {
        path = sysctlPath(this.procRoot, w.key);
        if ((statSync(path).mode & 0o200) === 0) continue;
      } catch {
        continue;
      }
      const code = writeProbe(path);
      return code === 'EROFS'
        ? `${join(this.procRoot, 'sys')} is not writable (${code}): ${privilegeHint(w.scope, code)}`
        : undefined;
    }
    return undefined;
  }

  private skipReason(w: Wanted, readOnly: string | undefined): string | undefined {
    if (w.scope === 'node' && !this.system.allowNodeScope) {
      return 'node-wide setting (changes every pod on the node); set system.allowNodeScope: true and run the sidecar as a DaemonSet';
    }
    let path: string;
    try {
      path = sysctlPath(this.procRoot, w.key);
    } catch (err) {
      return (err as Error).message;
    }
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch {
      return w.spec?.hostNetnsOnly
        ? 'exists only in the host network namespace: run the sidecar as a DaemonSet with hostNetwork: true'
        : `not present in this kernel (${path})`;
    }
    if (w.spec?.hostNetnsOnly && (mode & 0o222) === 0) {
      return 'read-only outside the host network namespace (global since Linux 6.10): run the sidecar as a DaemonSet with hostNetwork: true';
    }
    if (readOnly) {
      return K8S_SAFE_SYSCTLS.includes(w.key)
        ? `${readOnly}; Kubernetes lets the pod set this one through securityContext.sysctls`
        : readOnly;
    }
    if ((mode & 0o222) !== 0) {
      const code = writeProbe(path);
      if (code) {
        const k8s = K8S_SAFE_SYSCTLS.includes(w.key)
          ? '; Kubernetes lets the pod set this one through securityContext.sysctls'
          : '';
        return `the kernel refuses to open it for writing (${code}): ${privilegeHint(w.scope, code)}${k8s}`;
      }
    }
    if (w.spec?.type === 'enum' && w.spec.availableFrom) {
      let available: string[] = [];
      try {
        available = readFileSync(sysctlPath(this.procRoot, w.spec.availableFrom), 'utf8').trim().split(/\s+/);
      } catch {
        // An older kernel without the list: let the write itself decide.
        return undefined;
      }
      if (!available.includes(w.value)) {
        return `${w.value} is not available in this kernel (${w.spec.availableFrom}: ${available.join(' ')}); load it on the node first (modprobe tcp_${w.value})`;
      }
    }
    if (w.spec?.type === 'enum' && w.spec.allowedFrom && !this.inHostNetns()) {
      let allowed: string[] | undefined;
      try {
        allowed = readFileSync(sysctlPath(this.procRoot, w.spec.allowedFrom), 'utf8').trim().split(/\s+/);
      } catch {
        // No list on this kernel: the write itself decides.
      }
      if (allowed && !allowed.includes(w.value)) {
        return (
          `${w.value} is not in ${w.spec.allowedFrom} (${allowed.join(' ')}): outside the host's network namespace the kernel refuses any other choice (EPERM), ` +
          `whatever the privilege; add it to that list on the node, or set system.kernelParams.${w.spec.param} to one of the allowed ones or null`
        );
      }
    }
    return undefined;
  }
}

/**
 * The kernel's own answer to "may I write this sysctl?": open for writing and
 * close without writing, which changes nothing. access(2) would ask with the
 * real uid and, for non-root, without capabilities, so it refuses a non-root
 * process with CAP_NET_ADMIN that the kernel lets write its netns sysctls.
 */
export function writeProbe(path: string): string | undefined {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW));
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'error';
  }
}

/** What the kernel requires (fs/proc/proc_sysctl.c test_perm, net/sysctl_net.c net_ctl_permissions). */
function privilegeHint(scope: SysctlScope, code = 'EACCES'): string {
  if (code === 'EROFS') {
    return '/proc/sys is mounted read-only in this container; it is writable only in a privileged container (securityContext.privileged: true) or with procMount: Unmasked';
  }
  if (scope === 'pod') {
    return "a network namespace's sysctls are writable by uid 0 of the user namespace that owns it (no capability needed) or by a process with CAP_NET_ADMIN there";
  }
  return 'node-wide sysctls are writable only by uid 0 of the host (not uid 0 of a user namespace); no capability, CAP_SYS_ADMIN included, replaces it';
}
