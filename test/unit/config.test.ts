import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PERFORMANCE_CONFIG, resolveConfig, validateConfig } from '../../dist/src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'titan-perf-config-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('configuration', () => {
  it('defaults are DEFAULT_PERFORMANCE_CONFIG', () => {
    expect(DEFAULT_PERFORMANCE_CONFIG.nodejs.maxOldSpaceSize).toBe(4096);
    expect(DEFAULT_PERFORMANCE_CONFIG.nodejs.maxEventLoopDelay).toBe(10);
    expect(DEFAULT_PERFORMANCE_CONFIG.nodejs.connectionPooling).toMatchObject({ maxConnections: 50, timeout: 30000 });
    expect(DEFAULT_PERFORMANCE_CONFIG.redis).toMatchObject({
      maxMemory: '2gb',
      maxMemoryPolicy: 'allkeys-lru',
      appendOnly: true,
      lazyfreeLazyEviction: true,
    });
    expect(DEFAULT_PERFORMANCE_CONFIG.system.logRotation).toMatchObject({
      maxSize: '100M',
      maxAge: 30,
      compress: true,
    });
    expect(DEFAULT_PERFORMANCE_CONFIG.system.kernelParams).toMatchObject({
      netCoreSomaxconn: 65535,
      vmSwappiness: 1,
      tcpCongestionControl: 'bbr',
    });
    expect(Object.isFrozen(DEFAULT_PERFORMANCE_CONFIG.nodejs)).toBe(true);
  });

  it('the hft profile tightens the loop threshold and trades durability for speed', () => {
    const { config, profile } = resolveConfig({ env: { TITAN_PERF_PROFILE: 'hft' } });
    expect(profile).toBe('hft');
    expect(config.nodejs.maxEventLoopDelay).toBe(1);
    expect(config.nodejs.connectionPooling.maxConnections).toBeGreaterThan(50);
    expect(config.redis.appendFsync).toBe('no');
  });

  it('layers win in order: defaults < profile < file < env < code', () => {
    const f = file(
      'layers.json',
      JSON.stringify({ nodejs: { maxEventLoopDelay: 7, maxOldSpaceSize: 2048, sampleInterval: 2000 } }),
    );
    const { config, issues } = resolveConfig({
      env: {
        TITAN_PERF_PROFILE: 'hft',
        TITAN_PERF_CONFIG: f,
        TITAN_PERF_NODEJS__MAX_OLD_SPACE_SIZE: '3072',
        TITAN_PERF_NODEJS__SAMPLE_INTERVAL: '3000',
      },
      code: { nodejs: { sampleInterval: 4000 } },
    });
    expect(issues).toEqual([]);
    expect(config.nodejs.maxEventLoopDelay).toBe(7); // file over profile
    expect(config.nodejs.maxOldSpaceSize).toBe(3072); // env over file
    expect(config.nodejs.sampleInterval).toBe(4000); // code over env
    expect(config.nodejs.connectionPooling.maxConnections).toBe(200); // profile kept
  });

  it('reads YAML files', () => {
    const f = file('c.yaml', 'redis:\n  maxMemory: 4gb\n  appendFsync: "no"\n');
    const { config, issues } = resolveConfig({ env: { TITAN_PERF_CONFIG: f } });
    expect(issues).toEqual([]);
    expect(config.redis.maxMemory).toBe('4gb');
  });

  it('names the field, the bad value and what is allowed, and falls back per field', () => {
    const { config, issues } = resolveConfig({
      env: {},
      code: {
        nodejs: { connectionPooling: { maxConnections: 0 }, maxEventLoopDelay: 'lots', bogus: 1 },
        redis: { maxMemory: 1e9 },
      },
    });
    expect(config.nodejs.connectionPooling.maxConnections).toBe(50);
    expect(config.nodejs.maxEventLoopDelay).toBe(10);
    expect(config.redis.maxMemory).toBe('2gb');
    expect('bogus' in config.nodejs).toBe(false);
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i]));
    expect(byPath['nodejs.connectionPooling.maxConnections']).toMatchObject({
      value: 0,
      expected: 'an integer from 1 to 10000',
      source: 'code',
    });
    expect(byPath['nodejs.maxEventLoopDelay'].value).toBe('lots');
    expect(byPath['nodejs.bogus'].expected).toMatch(/^no such setting; known here: .*maxEventLoopDelay/);
    expect(byPath['redis.maxMemory'].expected).toMatch(/2gb/);
  });

  it('absurd numbers are refused', () => {
    expect(() => validateConfig({ nodejs: { connectionPooling: { maxConnections: 1e9 } } })).toThrow(
      /maxConnections: got 1000000000/,
    );
  });

  it('strict mode throws one coded error listing every issue', () => {
    try {
      resolveConfig({
        env: { TITAN_PERF_NODEJS__MAX_EVENT_LOOP_DELAY: 'lots', TITAN_PERF_PROFILE: 'fast' },
        strict: true,
      });
      expect.unreachable();
    } catch (err) {
      expect((err as { code: string }).code).toBe('TITAN_PERF_CONFIG_INVALID');
      expect((err as Error).message).toContain('TITAN_PERF_NODEJS__MAX_EVENT_LOOP_DELAY');
      expect((err as Error).message).toContain(
        "profile: got \"fast\" (from TITAN_PERF_PROFILE); expected one of 'default', 'hft'",
      );
    }
  });

  it('malformed and unreadable files name the file', () => {
    const bad = file('bad.json', '{ "nodejs": ');
    const r1 = resolveConfig({ env: { TITAN_PERF_CONFIG: bad } });
    expect(r1.issues[0]).toMatchObject({ value: bad, source: bad });
    expect(r1.issues[0].expected).toMatch(/valid JSON/);
    const badYaml = file('bad.yaml', 'nodejs:\n  a: [1,\n');
    expect(resolveConfig({ env: { TITAN_PERF_CONFIG: badYaml } }).issues[0].expected).toMatch(/valid YAML/);
    const missing = join(dir, 'missing.yaml');
    const r2 = resolveConfig({ env: { TITAN_PERF_CONFIG: missing } });
    expect(r2.issues[0]).toMatchObject({ value: missing });
    expect(r2.issues[0].expected).toMatch(/ENOENT/);
    expect(r2.config).toEqual(resolveConfig({ env: {} }).config);
  });

  it('variables with a meaning of their own are never read as overrides', () => {
    const { issues } = resolveConfig({
      env: {
        TITAN_PERF_CGROUP_ROOT: '/x',
        TITAN_PERF_TEST_PAUSE_AFTER_JOURNAL: '1',
        TITAN_PERF_DISABLED: '0',
        TITAN_PERF_STRICT: '0',
      },
      strict: true,
    });
    expect(issues).toEqual([]);
  });

  it('never echoes secrets', () => {
    const { issues } = resolveConfig({ env: {}, code: { redis: { url: 'http://user:hunter2@h:1' } } });
    expect(JSON.stringify(issues)).not.toContain('hunter2');
    // An unescaped @ inside the password must not leave its tail visible.
    const at = resolveConfig({ env: {}, code: { redis: { url: 'http://user:hun@ter2@h:1' } } });
    expect(JSON.stringify(at.issues)).not.toContain('ter2');
  });
});
