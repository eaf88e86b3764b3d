/** Heap and GC verdicts over chosen inputs: each one names the problem and the exact NODE_OPTIONS that fixes it. */
import { describe, expect, it } from 'vitest';
import { effectiveHeapFlags, parseHeapFlags, splitNodeOptions } from '../../dist/src/runtime/heap-flags.js';
import { heapVerdicts, nodeOptionsWith } from '../../dist/src/runtime/heap-verdicts.js';
import { oldGenerationLimit } from '../../dist/src/runtime/old-generation.js';

const MiB = 1024 * 1024;
type Input = Parameters<typeof heapVerdicts>[0];

function input(over: Partial<Input> = {}): Input {
  return {
    limit: { bytes: 2048 * MiB, source: 'cgroup v2', file: '/sys/fs/cgroup/memory.max', notes: [] },
    heapLimit: 1536 * MiB,
    execArgv: [],
    nodeOptions: '--max-old-space-size=1500',
    maxOldSpaceSize: 1500,
    incrementalMarking: true,
    hasPercentageFlag: true,
    ...over,
  };
}

const ids = (i: Input) => heapVerdicts(i).map((v) => v.id);

describe('heap and GC verdicts', () => {
  it('a heap that fits the container and the config: no verdict', () => {
    expect(heapVerdicts(input())).toEqual([]);
  });

  it('heap above the container limit: critical, fixed with the percentage flag where Node has it', () => {
    const v = heapVerdicts(
      input({
        heapLimit: 4096 * MiB,
        nodeOptions: '--require titan-perf/preload --max-old-space-size=4000',
        maxOldSpaceSize: 4000,
      }),
    );
    const above = v.find((x) => x.id === 'heap-above-memory-limit');
    expect(above).toMatchObject({
      severity: 'critical',
      fix: "NODE_OPTIONS='--require titan-perf/preload --max-old-space-size-percentage=75'",
    });
    expect(above?.message).toContain('4096 MiB');
    expect(above?.message).toContain('2048 MiB');
    expect(above?.message).toContain('cannot change at run time');
    expect(v.find((x) => x.id === 'configured-heap-above-memory-limit')?.severity).toBe('critical');
  });

  it('without the percentage flag the fix is a size: 75% of the container', () => {
    const v = heapVerdicts(input({ heapLimit: 4096 * MiB, hasPercentageFlag: false, nodeOptions: '' }));
    expect(v.find((x) => x.id === 'heap-above-memory-limit')?.fix).toBe("NODE_OPTIONS='--max-old-space-size=1536'");
  });

  it('heap near the limit warns, far below informs', () => {
    expect(ids(input({ heapLimit: 1900 * MiB }))).toContain('heap-near-memory-limit');
    expect(ids(input({ heapLimit: 256 * MiB, nodeOptions: '--max-old-space-size=256', maxOldSpaceSize: 256 }))).toEqual(
      ['heap-far-below-memory-limit'],
    );
  });

  it('host memory (no cgroup): neither near nor far-below verdicts, only real overcommit', () => {
    const host = { bytes: 16384 * MiB, source: 'host' as const, notes: [] };
    expect(
      ids(input({ limit: host, heapLimit: 512 * MiB, nodeOptions: '--max-old-space-size=512', maxOldSpaceSize: 512 })),
    ).toEqual([]);
  });

  it('configured maxOldSpaceSize not in effect: a warning with the flag to add', () => {
    const v = heapVerdicts(input({ nodeOptions: '--enable-source-maps', maxOldSpaceSize: 1024 }));
    expect(v).toEqual([
      expect.objectContaining({
        id: 'configured-heap-not-in-effect',
        severity: 'warning',
        fix: "NODE_OPTIONS='--enable-source-maps --max-old-space-size=1024'",
      }),
    ]);
    expect(v[0].message).toContain("V8's default");
  });

  it('the flag on the command line (execArgv) counts too', () => {
    expect(ids(input({ nodeOptions: '', execArgv: ['--max_old_space_size=1500'] }))).toEqual([]);
  });

  it('incremental marking off, GC debugging flags: named, with the NODE_OPTIONS that drops them', () => {
    const v = heapVerdicts(
      input({ nodeOptions: '--max-old-space-size=1500 --noincremental_marking --gc-interval=100 --expose-gc' }),
    );
    expect(v.find((x) => x.id === 'incremental-marking-disabled')).toMatchObject({
      severity: 'warning',
      fix: "NODE_OPTIONS='--max-old-space-size=1500 --gc-interval=100 --expose-gc'",
    });
    expect(v.find((x) => x.id === 'gc-flag-gc-interval')?.severity).toBe('warning');
    expect(v.find((x) => x.id === 'gc-flag-expose-gc')?.severity).toBe('info');
    // With incrementalMarking: false in the config the user chose it: no verdict.
    expect(
      ids(input({ incrementalMarking: false, nodeOptions: '--max-old-space-size=1500 --no-incremental-marking' })),
    ).toEqual([]);
  });

  it('an unknown memory limit is reported with what could not be read', () => {
    const v = heapVerdicts(
      input({ limit: { bytes: 16384 * MiB, source: 'host', notes: ['no cgroup memory controller under /x'] } }),
    );
    expect(v.find((x) => x.id === 'memory-limit-unknown')?.message).toContain('/x');
  });

  it('NODE_OPTIONS parsing keeps quoted arguments whole', () => {
    expect(splitNodeOptions('--require "/opt/my app/preload.js" --max-old-space-size=512')).toEqual([
      '--require',
      '/opt/my app/preload.js',
      '--max-old-space-size=512',
    ]);
    expect(nodeOptionsWith('--require "/opt/my app/p.js" --max-old-space-size=512', '--max-old-space-size=256')).toBe(
      `NODE_OPTIONS='--require "/opt/my app/p.js" --max-old-space-size=256'`,
    );
    expect([...parseHeapFlags(['--max_old_space_size=64', '--nouse-idle-notification']).entries()]).toEqual([
      ['--max-old-space-size', '64'],
      ['--no-use-idle-notification', true],
    ]);
  });

  it('a heap flag on the command line: the fix says to change it there, not a NODE_OPTIONS line that changes nothing', () => {
    const v = heapVerdicts(
      input({
        nodeOptions: '--require /opt/tp/preload.js',
        execArgv: ['--max-old-space-size=256'],
        heapLimit: 448 * MiB,
        maxOldSpaceSize: 1024,
      }),
    );
    const off = v.find((x) => x.id === 'configured-heap-not-in-effect');
    expect(off?.severity).toBe('warning');
    expect(off?.message).toContain('set on the command line');
    expect(off?.fix).not.toContain('NODE_OPTIONS=');
    expect(off?.fix).toContain('replace --max-old-space-size=256 with --max-old-space-size=1024');
    // NODE_OPTIONS holding the flag as well changes nothing: the command line still wins.
    const both = heapVerdicts(
      input({
        nodeOptions: '--max-old-space-size=1024',
        execArgv: ['--max_old_space_size=256'],
        heapLimit: 448 * MiB,
        maxOldSpaceSize: 1024,
      }),
    );
    expect(both.find((x) => x.id === 'configured-heap-not-in-effect')?.fix).toContain(
      'replace --max_old_space_size=256 with --max-old-space-size=1024',
    );
    // The container verdicts follow the same rule.
    const above = heapVerdicts(
      input({ nodeOptions: '', execArgv: ['--max-old-space-size=4000'], heapLimit: 4096 * MiB, maxOldSpaceSize: 4000 }),
    );
    expect(above.find((x) => x.id === 'heap-above-memory-limit')?.fix).toMatch(
      /^on the command line .*replace --max-old-space-size=4000 with --max-old-space-size-percentage=75/,
    );
  });

  it('a GC flag on the command line is removed there', () => {
    const v = heapVerdicts(input({ execArgv: ['--no-incremental-marking'] }));
    expect(v.find((x) => x.id === 'incremental-marking-disabled')?.fix).toBe(
      'remove --no-incremental-marking from the command line that starts node (process.execArgv); NODE_OPTIONS cannot remove it.',
    );
  });

  it('the default maxOldSpaceSize nobody chose: information, never a warning or a critical', () => {
    const v = heapVerdicts(
      input({ nodeOptions: '', heapLimit: 1000 * MiB, maxOldSpaceSize: 4096, maxOldSpaceSizeChosen: false }),
    );
    expect(v).toEqual([expect.objectContaining({ id: 'configured-heap-not-in-effect', severity: 'info' })]);
    expect(v[0].fix).toBeUndefined();
    expect(v[0].message).toContain('not set');
    // Chosen, the same numbers are a critical (4096 MiB above a 2048 MiB container).
    expect(
      heapVerdicts(input({ nodeOptions: '', heapLimit: 1000 * MiB, maxOldSpaceSize: 4096 })).map((x) => [
        x.id,
        x.severity,
      ]),
    ).toEqual([['configured-heap-above-memory-limit', 'critical']]);
  });

  it('the old generation limit: the flag in effect, else the heap limit minus 3 semi-spaces, else the heap limit', () => {
    const flags = (nodeOptions: string, argv: string[]) => effectiveHeapFlags(nodeOptions, argv);
    expect(oldGenerationLimit(448 * MiB, flags('', ['--max-old-space-size=256']))).toEqual({
      bytes: 256 * MiB,
      source: '--max-old-space-size',
    });
    // The command line wins over NODE_OPTIONS, as in Node.
    expect(oldGenerationLimit(448 * MiB, flags('--max-old-space-size=512', ['--max-old-space-size=256'])).bytes).toBe(
      256 * MiB,
    );
    expect(oldGenerationLimit(4288 * MiB, flags('--max-semi-space-size=64', [])).bytes).toBe(4096 * MiB);
    expect(oldGenerationLimit(4288 * MiB, flags('', []))).toEqual({ bytes: 4288 * MiB, source: 'heap limit' });
  });
});
