/**
 * Redis edge cases through the sidecar CLI: a full Redis (noeviction, used
 * memory above maxmemory) that refuses the journal's MULTI; `plan` against a
 * Redis that refuses the credentials; a mistyped URL whose password must not
 * appear in any output.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../helpers/redis-server';
import { fakeProcRoot, readFakeSysctl, runCli, tempDir } from '../sidecar/support';
import { configGet, rawClient } from './support';

describe('a full Redis (noeviction, used memory above maxmemory)', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
    const raw = rawClient(server);
    try {
      // About 4 MB of data, then a limit below it: every write is refused with OOM, reads still work.
      const value = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 64; i++) await raw.set(`fill:${i}`, value);
      await raw.config('SET', 'maxmemory-policy', 'noeviction');
      await raw.config('SET', 'maxmemory', String(2 * 1024 * 1024));
      await expect(raw.set('probe', '1')).rejects.toThrow(/^OOM/);
    } finally {
      raw.disconnect();
    }
  });
  afterAll(async () => {
    await server?.stop();
  });

  function setup(name: string) {
    const dir = tempDir(`redis-full-${name}`);
    const root = fakeProcRoot({ 'net.core.somaxconn': '128' });
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        system: { kernelParams: { netCoreSomaxconn: 65535 } },
        redis: {
          host: server.host,
          port: server.port,
          connectRetries: 0,
          hz: 42,
          maxMemory: '0',
          maxMemoryPolicy: 'noeviction',
        },
      }),
    );
    return { args: ['--config', config, '--state-dir', join(dir, 'state'), '--proc-root', root], root, dir };
  }

  it('atomic apply (the default): a clear message and code, exit 1, and nothing written in any store', async () => {
    const { args, root, dir } = setup('atomic');
    const r = await runCli(['apply', ...args]);
    const out = r.stdout + r.stderr;
    expect(r.code, out).toBe(1);
    expect(out).toMatch(
      /failed: redis \*: cannot journal the originals, so none of its settings was written: Redis at 127\.0\.0\.1:\d+ refused the journal write \(MULTI\/HSETNX [^)]+\): it is out of memory \(used memory above maxmemory with maxmemory-policy noeviction\).*Free memory, raise maxmemory.*\[TITAN_PERF_REDIS_OOM\]/,
    );
    expect(out).not.toMatch(/^titan-perf-sidecar: EXECABORT/m);
    expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('128');
    const raw = rawClient(server);
    try {
      expect(await configGet(raw, 'hz')).toBe('10');
    } finally {
      raw.disconnect();
    }
    // The originals this run recorded in the file journal were dropped with it: nothing to roll back.
    const rollback = await runCli(['rollback', '--dry-run', ...args]);
    expect(rollback.stdout).toBe('nothing to roll back\n');
    void dir;
  });

  it('--no-atomic: the other stores are applied, Redis is not, exit 1', async () => {
    const { args, root } = setup('no-atomic');
    const r = await runCli(['apply', '--no-atomic', ...args]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/\[TITAN_PERF_REDIS_OOM\]/);
    expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('65535');
    const raw = rawClient(server);
    try {
      expect(await configGet(raw, 'hz')).toBe('10');
    } finally {
      raw.disconnect();
    }
    expect((await runCli(['rollback', ...args])).code).toBe(0);
    expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('128');
  });
});

describe('plan against a Redis that refuses the credentials', () => {
  it('exits 1 (a store could not be planned), names the reason, and never prints the password', async () => {
    const server = await startRedis({ password: 'right-horse-battery' });
    try {
      const dir = tempDir('redis-plan-auth');
      const config = join(dir, 'config.json');
      writeFileSync(
        config,
        JSON.stringify({
          system: { enabled: false },
          redis: { host: server.host, port: server.port, passwordEnv: 'TP_TEST_PW', connectRetries: 0 },
        }),
      );
      for (const json of [[], ['--json']]) {
        const r = await runCli(['plan', ...json, '--config', config, '--state-dir', join(dir, 'state')], {
          env: { TP_TEST_PW: 'wrong-staple-4242' },
        });
        expect(r.code, r.stdout + r.stderr).toBe(1);
        expect(r.stdout + r.stderr).toMatch(/refused the credentials/);
        expect(r.stdout + r.stderr).not.toMatch(/wrong-staple-4242|right-horse-battery/);
      }
    } finally {
      await server.stop();
    }
  });
});

describe('a mistyped redis.url', () => {
  const SECRET = 'Pa55-w0rd-typo';
  const urls = [
    `redis:/:${SECRET}@db.example:6379`,
    `redis//:${SECRET}@db.example`,
    `redis:/user:${SECRET}@x@db.example`,
  ];

  it('from a config file or the environment: exit 2 naming redis.url, and the password in no output stream', async () => {
    const dir = tempDir('redis-url-typo');
    for (const url of urls) {
      const config = join(dir, 'config.json');
      writeFileSync(config, JSON.stringify({ system: { enabled: false }, redis: { url } }));
      for (const command of ['plan', 'apply', 'run']) {
        for (const [args, env] of [
          [['--config', config], {}],
          [['--config', join(dir, 'none.json')], { TITAN_PERF_REDIS__URL: url }],
        ] as [string[], Record<string, string>][]) {
          if (args[1].endsWith('none.json')) writeFileSync(args[1], JSON.stringify({ system: { enabled: false } }));
          const r = await runCli([command, ...args, '--state-dir', join(dir, 'state')], { env });
          const out = r.stdout + r.stderr;
          expect(r.code, `${command} ${url}: ${out}`).toBe(2);
          expect(out).toMatch(/redis\.url/);
          expect(out, `${command} ${url}`).not.toContain(SECRET);
          expect(out, `${command} ${url}`).not.toContain(SECRET.slice(0, 8));
        }
      }
    }
  }, 180_000);
});
