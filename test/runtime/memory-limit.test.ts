/** cgroup v2 / v1 memory limits parsed from fixture trees (the machine's own /sys/fs/cgroup has no memory controller at its root). */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupPath, readMemoryLimit } from '../../dist/src/runtime/memory-limit.js';

const MiB = 1024 * 1024;
const HOST = 8192 * MiB;

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'titan-perf-cg-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('container memory limit', () => {
  it('reads /proc/self/cgroup lines for v2 and v1', () => {
    const text = '12:memory:/kubepods/pod1/c1\n11:cpu,cpuacct:/kubepods/pod1/c1\n0::/kubepods.slice/pod2/c2\n';
    expect(cgroupPath(text, 2)).toBe('/kubepods.slice/pod2/c2');
    expect(cgroupPath(text, 1)).toBe('/kubepods/pod1/c1');
    expect(cgroupPath('3:cpuset:/\n', 1)).toBeUndefined();
  });

  it('cgroup v2: the smallest limit from the process cgroup up to the root', () => {
    const root = tree({
      'cgroup.controllers': 'memory\n',
      'memory.max': 'max\n',
      'pod/memory.max': `${1024 * MiB}\n`,
      'pod/app/memory.max': 'max\n',
    });
    const limit = readMemoryLimit({ root, procSelfCgroup: '0::/pod/app\n', hostBytes: HOST });
    expect(limit).toMatchObject({ bytes: 1024 * MiB, source: 'cgroup v2', file: join(root, 'pod', 'memory.max') });
  });

  it('cgroup v2 with "max" all the way up: host memory', () => {
    const root = tree({ 'cgroup.controllers': 'memory\n', 'memory.max': 'max\n' });
    expect(readMemoryLimit({ root, procSelfCgroup: '0::/\n', hostBytes: HOST })).toMatchObject({
      bytes: HOST,
      source: 'host',
    });
  });

  it('cgroup v1: limit_in_bytes, where the page-rounded 2^63 means none', () => {
    const limited = tree({
      'memory/docker/abc/memory.limit_in_bytes': `${512 * MiB}\n`,
      'memory/memory.limit_in_bytes': '9223372036854771712\n',
    });
    expect(readMemoryLimit({ root: limited, procSelfCgroup: '4:memory:/docker/abc\n', hostBytes: HOST })).toMatchObject(
      {
        bytes: 512 * MiB,
        source: 'cgroup v1',
      },
    );
    const unlimited = tree({ 'memory/memory.limit_in_bytes': '9223372036854771712\n' });
    expect(readMemoryLimit({ root: unlimited, procSelfCgroup: '4:memory:/\n', hostBytes: HOST })).toMatchObject({
      bytes: HOST,
      source: 'host',
    });
  });

  it('a limit at or above host memory counts as none', () => {
    const root = tree({ 'cgroup.controllers': '', 'memory.max': `${HOST * 2}\n` });
    expect(readMemoryLimit({ root, procSelfCgroup: '0::/\n', hostBytes: HOST }).source).toBe('host');
  });

  it('missing and malformed files: host memory, with notes saying what was missing', () => {
    const empty = mkdtempSync(join(tmpdir(), 'titan-perf-cg-empty-'));
    const none = readMemoryLimit({ root: empty, procSelfCgroup: '', hostBytes: HOST });
    expect(none).toMatchObject({ bytes: HOST, source: 'host' });
    expect(none.notes.join(' ')).toContain(`no cgroup memory controller under ${empty}`);

    const v2NoFile = tree({ 'cgroup.controllers': 'cpu\n' });
    expect(readMemoryLimit({ root: v2NoFile, procSelfCgroup: '0::/\n', hostBytes: HOST }).notes.join(' ')).toContain(
      'no memory.max found',
    );

    const garbage = tree({ 'cgroup.controllers': 'memory\n', 'memory.max': 'lots\n' });
    const g = readMemoryLimit({ root: garbage, procSelfCgroup: '0::/\n', hostBytes: HOST });
    expect(g.source).toBe('host');
    expect(g.notes.join(' ')).toContain('unexpected content "lots"');

    const unreadable = tree({ 'cgroup.controllers': 'memory\n' });
    mkdirSync(join(unreadable, 'memory.max'));
    expect(readMemoryLimit({ root: unreadable, procSelfCgroup: '0::/\n', hostBytes: HOST }).notes.join(' ')).toContain(
      'EISDIR',
    );
  });
});
