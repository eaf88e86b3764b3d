/**
 * The least privilege each kind of sysctl needs, measured against the kernel
 * with setpriv inside a network namespace of the test's own, and the
 * sidecar's own checks agreeing with it. Pod-scope keys are applied for real
 * in the namespace; node-wide keys are only planned (plan opens a sysctl for
 * writing and closes it without writing, which changes nothing), so the host
 * keeps every value, as the snapshot check at the end proves.
 */
import { execFile } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, guardHost, NODE, nsSysctl, nsSysctlWrite, tempDir } from './support';

const UID = 4321;
const { newNs } = guardHost();

const PRIVILEGES = {
  'uid 0, no capabilities': ['--reuid=0', '--regid=0', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'],
  'non-root + CAP_NET_ADMIN': [
    `--reuid=${UID}`,
    `--regid=${UID}`,
    '--clear-groups',
    '--inh-caps=+net_admin',
    '--ambient-caps=+net_admin',
    '--bounding-set=-all,+net_admin',
  ],
  'non-root + CAP_SYS_ADMIN': [
    `--reuid=${UID}`,
    `--regid=${UID}`,
    '--clear-groups',
    '--inh-caps=+sys_admin',
    '--ambient-caps=+sys_admin',
    '--bounding-set=-all,+sys_admin',
  ],
  'non-root, no capabilities': [
    `--reuid=${UID}`,
    `--regid=${UID}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
  ],
} as const;
type Privilege = keyof typeof PRIVILEGES;

function asUser(
  ns: string,
  privilege: Privilege,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'ip',
      ['netns', 'exec', ns, 'setpriv', ...PRIVILEGES[privilege], '--', NODE, CLI, ...args],
      { timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
  });
}

/** A state dir and config the unprivileged user owns (it refuses a dir owned by anyone else). */
function workspace(privilege: Privilege, system: Record<string, unknown>): { config: string; state: string } {
  const dir = tempDir('lp');
  const owner = privilege.startsWith('uid 0') ? 0 : UID;
  chownSync(dir, owner, owner);
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ redis: { enabled: false }, system }), { mode: 0o644 });
  chownSync(config, owner, owner);
  const state = join(dir, 'state');
  mkdirSync(state, { mode: 0o700 });
  chownSync(state, owner, owner);
  return { config, state };
}

describe('least privilege, measured in a network namespace', () => {
  const table: Record<string, Record<string, string>> = {};

  for (const privilege of Object.keys(PRIVILEGES) as Privilege[]) {
    it(`${privilege}: pod sysctls applied exactly when the kernel allows, node-wide ones planned with the kernel's answer`, async () => {
      const ns = newNs();
      nsSysctlWrite(ns, 'net.core.somaxconn', '4096');
      const kernelAllowsPod = privilege === 'uid 0, no capabilities' || privilege === 'non-root + CAP_NET_ADMIN';

      const pod = workspace(privilege, { kernelParams: { netCoreSomaxconn: 65535, tcpCongestionControl: null } });
      const apply = await asUser(ns, privilege, ['apply', '--json', '--config', pod.config, '--state-dir', pod.state]);
      const podResult = JSON.parse(apply.stdout || '{}');
      const podEntry = podResult.plan?.find((e: { key: string }) => e.key === 'net.core.somaxconn');
      if (kernelAllowsPod) {
        expect(apply.code, apply.stderr).toBe(0);
        expect(nsSysctl(ns, 'net.core.somaxconn')).toBe('65535');
      } else {
        expect(podEntry, apply.stderr).toMatchObject({
          action: 'skip',
          reason: expect.stringMatching(/kernel refuses to open it for writing \(EACCES\).*CAP_NET_ADMIN/),
        });
        expect(nsSysctl(ns, 'net.core.somaxconn')).toBe('4096');
      }

      const node = workspace(privilege, {
        allowNodeScope: true,
        kernelParams: { vmSwappiness: 1, netCoreSomaxconn: null, tcpCongestionControl: null },
      });
      const plan = await asUser(ns, privilege, ['plan', '--json', '--config', node.config, '--state-dir', node.state]);
      const nodeEntry = JSON.parse(plan.stdout).plan.find((e: { key: string }) => e.key === 'vm.swappiness');
      const nodeWritable = !/kernel refuses/.test(nodeEntry.reason ?? '');
      if (privilege === 'uid 0, no capabilities') expect(nodeWritable, JSON.stringify(nodeEntry)).toBe(true);
      else
        expect(nodeEntry).toMatchObject({ action: 'skip', reason: expect.stringMatching(/EACCES.*uid 0 of the host/) });

      table[privilege] = {
        'pod net.*': kernelAllowsPod ? 'written' : 'refused (EACCES)',
        'node vm.*/fs.*': nodeWritable ? 'writable' : 'refused (EACCES)',
      };
    });
  }

  it("uid 0 of a user namespace (a rootless container) writes its own network namespace's sysctls, never node-wide ones", async () => {
    const dir = tempDir('lp-userns');
    chownSync(dir, UID, UID);
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        redis: { enabled: false },
        system: {
          allowNodeScope: true,
          kernelParams: { netCoreSomaxconn: 65535, vmSwappiness: 1, tcpCongestionControl: null },
        },
      }),
      { mode: 0o644 },
    );
    chownSync(config, UID, UID);
    const state = join(dir, 'state');
    // Unprivileged user, new user namespace (uid 0 inside maps to UID outside), new network namespace owned by it.
    const r = await new Promise<{ stdout: string; stderr: string }>((resolve) =>
      execFile(
        'setpriv',
        [
          `--reuid=${UID}`,
          `--regid=${UID}`,
          '--clear-groups',
          '--',
          'unshare',
          '--user',
          '--map-root-user',
          '--net',
          '--',
          NODE,
          CLI,
          'apply',
          '--json',
          '--config',
          config,
          '--state-dir',
          state,
        ],
        { timeout: 60_000 },
        (_err, stdout, stderr) => resolve({ stdout, stderr }),
      ),
    );
    const result = JSON.parse(r.stdout);
    expect(
      result.changed.map((c: { key: string }) => c.key),
      r.stderr,
    ).toContain('net.core.somaxconn');
    const swappiness = result.plan.find((e: { key: string }) => e.key === 'vm.swappiness');
    if (swappiness.action !== 'ok')
      expect(swappiness).toMatchObject({ action: 'skip', reason: expect.stringMatching(/EACCES.*uid 0 of the host/) });
    table['uid 0 of a user namespace'] = {
      'pod net.*': 'written',
      'node vm.*/fs.*': swappiness.action === 'ok' ? '(already 1)' : 'refused (EACCES)',
    };
  });

  it('prints the table', () => {
    process.stdout.write(`least privilege (net namespace of the test's own, kernel ${release()}):\n`);
    for (const [privilege, row] of Object.entries(table))
      process.stdout.write(
        `  ${privilege.padEnd(28)} ${Object.entries(row)
          .map(([k, v]) => `${k}: ${v}`)
          .join('  ')}\n`,
      );
    expect(Object.keys(table)).toHaveLength(Object.keys(PRIVILEGES).length + 1);
  });
});
