/**
 * The preload's start path is one file: a short job (one fetch and one
 * http.get to a local server, then exit) under the preload loads
 * dist/preload/index.js (the loader, which compiles dist/preload/start-path.js
 * with V8's code cache) and no other titan-perf file; under the zero-install
 * bundle, its preload.js only. Each further file cost every process start
 * ~0.5-1 ms (scripts/build-preload-entry.mjs says why), so a module that
 * joins the start path must join START_PATH there too. A damaged cache, or
 * one of another V8, is never used, and the preload runs as without it.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
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

const CACHE_DIR = join(ROOT, 'dist', 'preload', 'code-cache');
const OWN_CACHE = `${process.versions.v8}-${process.arch}.bin`;
const STATE = `console.log(JSON.stringify({ cache: globalThis[Symbol.for('titan-perf.preload-code-cache')], agent: !!globalThis[Symbol.for('titan-perf.agent')] }))`;

/** dist/preload copied beside a link to dist/src, with its cache for this V8 replaced by `cache`. */
function preloadWithCache(cache: Buffer): { entry: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'titan-perf-cache-'));
  cpSync(join(ROOT, 'dist', 'preload'), join(dir, 'preload'), { recursive: true });
  symlinkSync(join(ROOT, 'dist', 'src'), join(dir, 'src'));
  writeFileSync(join(dir, 'preload', 'code-cache', OWN_CACHE), cache);
  return { entry: join(dir, 'preload', 'index.js'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

describe(`the preload's start path (Node ${process.version})`, () => {
  it('is one file for a short job', async () => {
    const r = await runNode(['--require', PRELOAD, '-e', JOB]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual([PRELOAD]);
  });

  it.skipIf(!existsSync(join(CACHE_DIR, OWN_CACHE)))(
    'is compiled from the code cache the build made for this Node',
    async () => {
      const r = await runNode(['--require', PRELOAD, '-e', STATE]);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout.trim())).toEqual({ cache: 'used', agent: true });
    },
  );

  it.skipIf(!existsSync(join(CACHE_DIR, OWN_CACHE)))(
    'with pending deprecations printed, the cache is left unused rather than warn about the binding its check uses',
    async () => {
      for (const [args, env] of [
        [['--pending-deprecation'], {}],
        [[], { NODE_OPTIONS: '--pending-deprecation' }],
        [[], { NODE_PENDING_DEPRECATION: '1' }],
      ] as [string[], Record<string, string>][]) {
        const r = await runNode([...args, '--require', PRELOAD, '-e', STATE], env);
        expect(r.stderr, JSON.stringify(env)).toBe('');
        expect(JSON.parse(r.stdout.trim())).toEqual({ cache: 'none', agent: true });
      }
    },
  );

  it.skipIf(!existsSync(join(CACHE_DIR, OWN_CACHE)))(
    'a damaged or oversized cache, a FIFO, or one of another V8 is not used, and the preload runs',
    async () => {
      const good = readFileSync(join(CACHE_DIR, OWN_CACHE));
      // One bit flipped in V8's data: the checksum refuses it before V8 reads it.
      const flipped = Buffer.from(good);
      flipped[flipped.length >> 1] ^= 0x10;
      // Another V8's cache under this V8's name, checksum intact: V8 itself rejects it.
      const other = readdirSync(CACHE_DIR).find((f) => f !== OWN_CACHE);
      const cases: [string, Buffer, string][] = [
        ['flipped', flipped, 'none'],
        ['truncated', good.subarray(0, 3), 'none'],
        // Far larger than a cache: not read at all.
        ['oversized', Buffer.concat([good, Buffer.alloc(5 * 1024 * 1024)]), 'none'],
        ...(other
          ? [['another V8', readFileSync(join(CACHE_DIR, other)), 'rejected'] as [string, Buffer, string]]
          : []),
      ];
      // A FIFO in its place: never opened for reading (it would block the process start).
      const fifo = preloadWithCache(Buffer.alloc(0));
      try {
        const file = join(fifo.entry, '..', 'code-cache', OWN_CACHE);
        rmSync(file);
        execFileSync('mkfifo', [file]);
        const r = await runNode(['--require', fifo.entry, '-e', STATE], {}, 10_000);
        expect(r.stderr, 'fifo').toBe('');
        expect(JSON.parse(r.stdout.trim()), 'fifo').toEqual({ cache: 'none', agent: true });
      } finally {
        fifo.done();
      }
      for (const [name, cache, state] of cases) {
        const copy = preloadWithCache(cache);
        try {
          const r = await runNode(['--require', copy.entry, '-e', STATE]);
          expect(r.stderr, name).toBe('');
          expect(JSON.parse(r.stdout.trim()), name).toEqual({ cache: state, agent: true });
        } finally {
          copy.done();
        }
      }
    },
  );

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
