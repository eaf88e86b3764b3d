import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../dist/src/redis/store.js';
import { startRedis, type RedisServer } from '../helpers/redis-server';
import { runCli, tempDir } from '../sidecar/support';
import { cliEnv, configFor, configGet, rawClient, runSidecarLike } from './support';

const PASSWORD = 'pw-Zq81-never-print-me';
const WRONG = 'wrong-Kx27-never-print-me';
const ACL_PASSWORD = 'acl-Hy55-never-print-me';
describe('Redis AUTH: password from env or file, ACL user, never in any output', () => {
  let server: RedisServer;
  let dir: string;
  beforeAll(async () => {
    server = await startRedis({
      password: PASSWORD,
      users: [{ name: 'tuner', password: ACL_PASSWORD, rules: '~* &* +@all' }],
    });
    dir = mkdtempSync(join(tmpdir(), 'titan-perf-redis-auth-'));
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a sidecar process with the password in an env var applies and rolls back; the password appears nowhere in its output', async () => {
    const r = await runSidecarLike(configFor(server, { passwordEnv: 'TEST_REDIS_PW' }), {
      TEST_REDIS_PW: PASSWORD,
      TITAN_TEST_WRITE: '77',
    });
    expect(r.out).toContain('RESULT ok');
    expect(r.out).toContain('hz now 77');
    expect(r.code).toBe(0);
    expect(r.out).not.toContain(PASSWORD);
    const raw = rawClient(server);
    expect(await configGet(raw, 'hz')).toBe('10');
    raw.disconnect();
  });

  it('the sidecar CLI (plan, apply, status, rollback, and a wrong password) never prints the password', async () => {
    const cfgDir = tempDir('redis-auth-cli');
    const cfg = join(cfgDir, 'config.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        system: { enabled: false },
        redis: { host: server.host, port: server.port, passwordEnv: 'TEST_REDIS_PW', hz: 40 },
        dataDir: join(cfgDir, 'state'),
      }),
    );
    const env = (pw: string) => cliEnv({ TEST_REDIS_PW: pw });
    try {
      let all = '';
      for (const cmd of ['plan', 'apply', 'status', 'rollback']) {
        const r = await runCli([cmd, '--config', cfg, '--json'], { env: env(PASSWORD) });
        all += r.stdout + r.stderr;
        if (cmd === 'apply' || cmd === 'rollback') expect(r.code, `${cmd}: ${r.stdout}${r.stderr}`).toBe(0);
        if (cmd === 'status') expect(JSON.parse(r.stdout).redis.metrics['redis.memory.used']).toBeGreaterThan(0);
      }
      const wrong = await runCli(['plan', '--config', cfg], { env: env(WRONG) });
      all += wrong.stdout + wrong.stderr;
      expect(wrong.stdout + wrong.stderr).toMatch(/refused the credentials/);
      expect(all).not.toContain(PASSWORD);
      expect(all).not.toContain(WRONG);
    } finally {
      rmSync(cfgDir, { recursive: true, force: true });
    }
  });

  it('a wrong password fails at once with TITAN_PERF_REDIS_AUTH, no retries, and neither password is printed', async () => {
    const r = await runSidecarLike(configFor(server, { passwordEnv: 'TEST_REDIS_PW', connectRetries: 5 }), {
      TEST_REDIS_PW: WRONG,
    });
    expect(r.out).toMatch(/RESULT error TITAN_PERF_REDIS_AUTH/);
    expect(r.out).toMatch(
      /MESSAGE Redis at 127\.0\.0\.1:\d+ refused the credentials for the default user \(WRONGPASS\)/,
    );
    expect(r.code).toBe(0);
    expect(r.out).not.toContain(WRONG);
    expect(r.out).not.toContain(PASSWORD);
  });

  it('reads the password from a mounted file (trailing newline ignored) and authenticates an ACL user', async () => {
    const file = join(dir, 'password');
    writeFileSync(file, `${ACL_PASSWORD}\n`, { mode: 0o600 });
    const store = new RedisStore(configFor(server, { username: 'tuner', passwordFile: file }));
    try {
      expect(await store.read('hz')).toBe('10');
      const raw = rawClient(server);
      const clients = (await raw.client('LIST')) as string;
      raw.disconnect();
      expect(clients).toMatch(/name=titan-perf-sidecar .*user=tuner/);
    } finally {
      await store.close();
    }
  });

  it('takes credentials from a redis:// URL and never shows them in messages', async () => {
    const url = `redis://tuner:${encodeURIComponent(ACL_PASSWORD)}@127.0.0.1:${server.port}/0`;
    const ok = new RedisStore({ ...configFor(server), url });
    try {
      expect(await ok.read('maxmemory')).toBe('0');
    } finally {
      await ok.close();
    }
    const bad = new RedisStore({ ...configFor(server), url: `redis://tuner:${WRONG}@127.0.0.1:${server.port}` });
    const err = await bad.read('hz').catch((e: unknown) => e);
    await bad.close();
    expect(err).toMatchObject({ code: 'TITAN_PERF_REDIS_AUTH', message: expect.stringContaining("user 'tuner'") });
    const shown = `${inspect(err, { depth: 10, showHidden: true })} ${JSON.stringify(err)} ${(err as Error).stack}`;
    expect(shown).not.toContain(WRONG);
  });

  it('an unparsable URL is refused without echoing it (it may hold a password)', async () => {
    const store = new RedisStore({ ...configFor(server), url: `redis://tuner:${WRONG} x@bad host:1` });
    const err = await store.read('hz').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TITAN_PERF_REDIS_URL_INVALID' });
    expect(inspect(err, { depth: 10, showHidden: true })).not.toContain(WRONG);
  });

  it('a missing password variable or file is a clear error naming the variable or path, not the value', async () => {
    const noEnv = new RedisStore(configFor(server, { passwordEnv: 'TITAN_TEST_UNSET_PW' }), { env: {} });
    await expect(noEnv.read('hz')).rejects.toMatchObject({
      code: 'TITAN_PERF_REDIS_PASSWORD_MISSING',
      message: expect.stringContaining('TITAN_TEST_UNSET_PW'),
    });
    const noFile = new RedisStore(configFor(server, { passwordFile: join(dir, 'absent') }));
    await expect(noFile.read('hz')).rejects.toMatchObject({
      code: 'TITAN_PERF_REDIS_PASSWORD_MISSING',
      message: expect.stringMatching(/absent cannot be read \(ENOENT\)/),
    });
  });
});

describe('Redis over TLS', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis({ tls: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('connects with redis.tls and the CA file, and fails clearly without the CA', async () => {
    const store = new RedisStore(configFor(server, { tls: true, tlsCaFile: server.tlsCaFile }));
    try {
      expect(await store.read('hz')).toBe('10');
      expect((await store.health()).metrics['redis.clients.connected']).toBeGreaterThanOrEqual(1);
    } finally {
      await store.close();
    }
    const untrusted = new RedisStore(configFor(server, { tls: true, connectRetries: 0 }));
    await expect(untrusted.read('hz')).rejects.toMatchObject({
      code: 'TITAN_PERF_REDIS_TLS',
      message: expect.stringMatching(/self.signed|certificate/i),
    });
    await untrusted.close();
  });
});
