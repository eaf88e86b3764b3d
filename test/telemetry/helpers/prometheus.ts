/**
 * A real Prometheus server (Debian's /usr/bin/prometheus) for tests: loopback
 * only, its own temp config and TSDB dir, scraping the given targets every
 * second; answers PromQL through its HTTP API. `stop()` ends only this child.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../helpers/redis-server';

export interface PrometheusServer {
  url: string;
  /** Instant query; returns the result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Every metric name Prometheus has stored. */
  names(): Promise<string[]>;
  stop(): Promise<void>;
}

/** `scrapeSeconds`: Prometheus's own default is 15; 1 keeps most tests short. */
export async function startPrometheus(targets: Record<string, string>, scrapeSeconds = 1): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'titan-perf-prom-'));
  const port = await freePort();
  const jobs = Object.entries(targets)
    .map(
      ([job, target]) =>
        `  - job_name: ${job}\n    scrape_interval: ${scrapeSeconds}s\n    scrape_timeout: 1s\n    static_configs:\n      - targets: ['${target}']`,
    )
    .join('\n');
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: ${scrapeSeconds}s\n  evaluation_interval: 1s\nscrape_configs:\n${jobs}\n`,
  );
  const child: ChildProcess = spawn(
    '/usr/bin/prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (c) => (log = (log + c).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 40_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}):\n${log}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready after 40 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const api = async (path: string) => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error}`);
    return body.data;
  };
  return {
    url,
    query: async (expr) =>
      ((await api(`/api/v1/query?query=${encodeURIComponent(expr)}`)) as { result: never[] }).result,
    names: async () => (await api('/api/v1/label/__name__/values')) as string[],
    stop,
  };
}
