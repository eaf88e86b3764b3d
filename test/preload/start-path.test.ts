/**
 * The preload's start path is one file: a short job (one fetch and one
 * http.get to a local server, then exit) under the preload loads
 * dist/preload/index.js and no other titan-perf file; under the zero-install
 * bundle, its preload.js only. Each further file cost every process start
 * ~0.5-1 ms (scripts/build-preload-entry.mjs says why), so a module that
 * joins the start path must join START_PATH there too.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRELOAD, ROOT, runNode } from './run';

const JOB = `
const http = require('node:http');
const server = http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', async () => {
  const url = 'http://127.0.0.1:' + server.address().port + '/';
  await (await fetch(url)).text();
  await new Promise((resolve) => http.get(url, (res) => res.resume().on('end', resolve)));
  server.close();
  setImmediate(() => {
    const own = Object.keys(require.cache).filter((f) => f.startsWith(${JSON.stringify(join(ROOT, 'dist'))}));
    console.log(JSON.stringify(own));
  });
});
`;

describe(`the preload's start path (Node ${process.version})`, () => {
  it('is one file for a short job', async () => {
    const r = await runNode(['--require', PRELOAD, '-e', JOB]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual([PRELOAD]);
  });

  it('is one file of the zero-install bundle for a short job', async () => {
    const bundled = join(ROOT, 'dist', 'preload-bundle', 'preload.js');
    const r = await runNode(['--require', bundled, '-e', JOB]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual([bundled]);
  });

  it('loads the rest of titan-perf from its own files when asked for it', async () => {
    // status() needs the heap verdicts, which are off the start path: they load from dist/src.
    const r = await runNode([
      '--require',
      PRELOAD,
      '-e',
      `const s = globalThis[Symbol.for('titan-perf.agent')].status();
       console.log(JSON.stringify({ running: s.running, loaded: Object.keys(require.cache).some((f) => f.endsWith('heap-verdicts.js')) }));`,
    ]);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout.trim())).toEqual({ running: true, loaded: true });
  });
});
