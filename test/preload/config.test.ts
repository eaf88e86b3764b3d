/**
 * Bad configuration never stops the app: one clear warning on stderr naming
 * the field (or file), the faulty setting falls back to its default, the app
 * runs. TITAN_PERF_STRICT=1 makes it a start-up failure before the app runs.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, jsonLines, PRELOAD, runNode } from './run';

const dir = mkdtempSync(join(tmpdir(), 'titan-perf-preload-config-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

interface Case {
  name: string;
  env: () => Record<string, string>;
  /** Every one of these must appear in the single warning. */
  mentions: string[];
}

const cases: Case[] = [
  {
    name: 'malformed JSON',
    env: () => ({ TITAN_PERF_CONFIG: file('bad.json', '{"nodejs": {') }),
    mentions: ['bad.json', 'valid JSON'],
  },
  {
    name: 'malformed YAML',
    env: () => ({ TITAN_PERF_CONFIG: file('bad.yaml', 'nodejs:\n  maxEventLoopDelay: [1,\n') }),
    mentions: ['bad.yaml', 'valid YAML'],
  },
  {
    name: 'an unknown key',
    env: () => ({ TITAN_PERF_CONFIG: file('unknown.yaml', 'nodejs:\n  maxConections: 10\n') }),
    mentions: ['nodejs.maxConections', 'no such setting', 'unknown.yaml'],
  },
  {
    name: 'maxConnections: 0',
    env: () => ({
      TITAN_PERF_CONFIG: file('zero.json', JSON.stringify({ nodejs: { connectionPooling: { maxConnections: 0 } } })),
    }),
    mentions: ['nodejs.connectionPooling.maxConnections', 'got 0', 'an integer from 1 to 10000', 'zero.json'],
  },
  {
    name: 'maxConnections: 1e9',
    env: () => ({ TITAN_PERF_CONFIG: file('huge.yaml', 'nodejs:\n  connectionPooling:\n    maxConnections: 1e9\n') }),
    mentions: ['nodejs.connectionPooling.maxConnections', '1000000000', 'an integer from 1 to 10000'],
  },
  {
    name: 'maxConnections: "lots" (environment)',
    env: () => ({ TITAN_PERF_NODEJS__CONNECTION_POOLING__MAX_CONNECTIONS: 'lots' }),
    mentions: [
      'nodejs.connectionPooling.maxConnections',
      '"lots"',
      'TITAN_PERF_NODEJS__CONNECTION_POOLING__MAX_CONNECTIONS',
    ],
  },
  {
    name: 'a missing file',
    env: () => ({ TITAN_PERF_CONFIG: join(dir, 'nope.yaml') }),
    mentions: ['nope.yaml', 'ENOENT'],
  },
  {
    name: 'an unreadable file (a directory)',
    env: () => {
      const d = join(dir, 'adir.yaml');
      mkdirSync(d, { recursive: true });
      return { TITAN_PERF_CONFIG: d };
    },
    mentions: ['adir.yaml', 'EISDIR'],
  },
  {
    name: 'an unreadable file (no permission, as a non-root user)',
    env: () => {
      const p = file('secret.yaml', 'nodejs: {}\n');
      chmodSync(p, 0o000);
      return { TITAN_PERF_CONFIG: p };
    },
    mentions: ['secret.yaml'],
  },
];

describe(`invalid configuration in the preload (Node ${process.version})`, () => {
  for (const c of cases) {
    it(`${c.name}: one warning, the app runs with defaults`, async (ctx) => {
      const env = c.env();
      // Root reads any file: the permission case runs the app as nobody, where this checkout allows it.
      const nobody =
        c.name.includes('no permission') && process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
      const args = ['--require', PRELOAD, fixture('agent-report.cjs')];
      if (nobody) {
        const probe = await runNode(['--require', PRELOAD, '-e', '0'], {}, 60_000, '/', nobody).catch(() => undefined);
        if (probe?.code !== 0) return ctx.skip('user nobody cannot run Node or read dist/ in this checkout');
      }
      const r = await runNode(args, env, 60_000, nobody ? '/' : undefined, nobody);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.startsWith('app ran\n')).toBe(true);
      const warnings = r.stderr.split('\n').filter((l) => l.startsWith('titan-perf:'));
      expect(warnings, r.stderr).toHaveLength(1);
      expect(warnings[0]).toContain('invalid configuration');
      for (const m of c.mentions) expect(r.stderr).toContain(m);
      const status = (
        jsonLines(r.stdout)[0] as {
          status: { config: { connectionPooling: { maxConnections: number } }; configIssues: unknown[] };
        }
      ).status;
      expect(status.config.connectionPooling.maxConnections).toBe(50);
      expect(status.configIssues.length).toBeGreaterThan(0);
    });
  }

  it('TITAN_PERF_STRICT=1: the same faults stop the start-up before the app runs', async () => {
    for (const c of cases.slice(0, 6)) {
      const r = await runNode(['--require', PRELOAD, fixture('agent-report.cjs')], {
        ...c.env(),
        TITAN_PERF_STRICT: '1',
      });
      expect(r.code, c.name).toBe(1);
      expect(r.stdout, c.name).toBe('');
      expect(r.stderr).toContain('TITAN_PERF_STRICT=1');
      for (const m of c.mentions) expect(r.stderr).toContain(m);
    }
  });

  it('a valid file and overrides take effect', async () => {
    const r = await runNode(['--require', PRELOAD, fixture('agent-report.cjs')], {
      TITAN_PERF_PROFILE: 'hft',
      TITAN_PERF_CONFIG: file('ok.yaml', 'nodejs:\n  connectionPooling:\n    maxConnections: 7\n'),
      TITAN_PERF_NODEJS__WARNING_COOLDOWN: '1000',
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const status = (jsonLines(r.stdout)[0] as { status: { config: Record<string, unknown>; configIssues: unknown[] } })
      .status;
    expect(status.configIssues).toEqual([]);
    expect(status.config).toMatchObject({
      maxEventLoopDelay: 1,
      warningCooldown: 1000,
      connectionPooling: { maxConnections: 7, maxFreeSockets: 512 },
    });
  });
});
