// The load generator for the server comparisons: Debian's wrk in its own
// process (so it never shares an event loop with the server), autocannon
// from bench/'s packages when wrk is absent.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCollect } from './proc.mjs';
import { BENCH } from './subject.mjs';

const WRK = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p));
const AUTOCANNON = join(BENCH, 'node_modules', 'autocannon', 'autocannon.js');

export function loadGenerator() {
  if (WRK) return 'wrk';
  if (existsSync(AUTOCANNON)) return 'autocannon';
  return null;
}

/** Requests per second against `url` for `seconds` with `connections` open. */
export async function loadRps({ url, seconds, connections, nodeBin }) {
  if (WRK) {
    const { stdout } = await runCollect(WRK, ['-t1', `-c${connections}`, `-d${seconds}s`, url], {
      timeoutMs: (seconds + 30) * 1000,
    });
    const m = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
    if (!m) throw new Error(`wrk printed no Requests/sec: ${stdout.slice(0, 300)}`);
    const errors = /Non-2xx or 3xx responses:\s+(\d+)|Socket errors:.*/.exec(stdout);
    const total = /(\d+) requests in/.exec(stdout);
    return { rps: Number(m[1]), requests: total ? Number(total[1]) : NaN, errors: errors ? errors[0] : null };
  }
  const { stdout } = await runCollect(
    nodeBin,
    [AUTOCANNON, '-j', '-c', String(connections), '-d', String(seconds), url],
    { timeoutMs: (seconds + 30) * 1000 },
  );
  const j = JSON.parse(stdout);
  return {
    rps: j.requests.average,
    requests: j.requests.total,
    errors: j.errors || j.non2xx ? `errors ${j.errors}, non-2xx ${j.non2xx}` : null,
  };
}
