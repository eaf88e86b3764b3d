/**
 * The heap advice of the preload's agent in real processes: a heap flag on
 * the command line beats the same flag in NODE_OPTIONS (so advice must not
 * offer a NODE_OPTIONS line there), and the default maxOldSpaceSize, which
 * nobody chose, is information only.
 */
import { describe, expect, it } from 'vitest';
import { fixture, jsonLines, PRELOAD, runNode } from './run';

interface Verdict {
  id: string;
  severity: string;
  message: string;
  fix?: string;
}

async function verdicts(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ verdicts: Verdict[]; heapLimit: number }> {
  const r = await runNode([...args, '--require', PRELOAD, fixture('agent-report.cjs')], env);
  expect(r.code, r.stderr).toBe(0);
  const status = (jsonLines(r.stdout)[0] as { status: { verdicts: Verdict[]; memory: { heapLimitBytes: number } } })
    .status;
  return { verdicts: status.verdicts, heapLimit: status.memory.heapLimitBytes };
}

describe(`heap advice in a real process (Node ${process.version})`, () => {
  it('the command line wins over NODE_OPTIONS, and the advice says to change the command line', async () => {
    const cli = await verdicts(['--max-old-space-size=256'], { TITAN_PERF_NODEJS__MAX_OLD_SPACE_SIZE: '1024' });
    const both = await verdicts(['--max-old-space-size=256'], {
      NODE_OPTIONS: '--max-old-space-size=1024',
      TITAN_PERF_NODEJS__MAX_OLD_SPACE_SIZE: '1024',
    });
    const env = await verdicts([], {
      NODE_OPTIONS: '--max-old-space-size=1024',
      TITAN_PERF_NODEJS__MAX_OLD_SPACE_SIZE: '1024',
    });
    // What the advice relies on: NODE_OPTIONS=1024 beside a command-line 256 leaves the heap at 256.
    expect(both.heapLimit).toBe(cli.heapLimit);
    expect(env.heapLimit).toBeGreaterThan(cli.heapLimit);
    for (const run of [cli, both]) {
      const v = run.verdicts.find((x) => x.id === 'configured-heap-not-in-effect');
      expect(v?.severity).toBe('warning');
      expect(v?.fix).not.toMatch(/NODE_OPTIONS=/);
      expect(v?.fix).toContain('replace --max-old-space-size=256 with --max-old-space-size=1024');
    }
    // NODE_OPTIONS alone holds the size asked for: nothing to say about it.
    expect(env.verdicts.find((x) => x.id === 'configured-heap-not-in-effect')).toBeUndefined();
  });

  it('the default maxOldSpaceSize is information; a size the user set is a warning', async () => {
    const plain = await verdicts([]);
    const d = plain.verdicts.find((x) => x.id === 'configured-heap-not-in-effect');
    expect(d?.severity).toBe('info');
    expect(plain.verdicts.filter((x) => x.id.startsWith('configured-heap')).every((x) => x.severity === 'info')).toBe(
      true,
    );
    // Another setting through the environment does not make the heap size "chosen".
    const other = await verdicts([], { TITAN_PERF_NODEJS__SAMPLE_INTERVAL: '1000' });
    expect(other.verdicts.find((x) => x.id === 'configured-heap-not-in-effect')?.severity).toBe('info');
    const set = await verdicts([], { TITAN_PERF_NODEJS__MAX_OLD_SPACE_SIZE: '2048' });
    expect(set.verdicts.find((x) => x.id === 'configured-heap-not-in-effect')?.severity).toBe('warning');
    // The user who sets exactly the default chose it too.
    const same = await verdicts([], { TITAN_PERF_NODEJS__MAX_OLD_SPACE_SIZE: '4096' });
    expect(same.verdicts.find((x) => x.id === 'configured-heap-not-in-effect')?.severity).toBe('warning');
  });
});
