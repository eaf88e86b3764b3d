/**
 * The file journal: first original wins, a corrupt file stops instead of
 * guessing, and concurrent processes on one state dir (a daemon plus a manual
 * apply) never lose each other's originals.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileJournal } from '../../dist/src/engine/file-journal.js';
import { exited, NODE, ROOT, tempDir } from './support';

const entry = (key: string, original: string | null) => ({
  store: 'sysctl',
  key,
  original,
  at: Date.now(),
  owner: 'test',
});

describe('file journal', () => {
  it('keeps the first original of a key and forgets only what it is told', async () => {
    const dir = tempDir('journal');
    const j = new FileJournal(dir);
    await j.recordOriginal(entry('net.core.somaxconn', '4096'));
    await j.recordOriginals([entry('net.core.somaxconn', '65535'), entry('vm.swappiness', '60')]);
    expect((await j.originals()).map((e) => [e.key, e.original])).toEqual([
      ['net.core.somaxconn', '4096'],
      ['vm.swappiness', '60'],
    ]);
    await j.forget('sysctl', 'vm.swappiness');
    expect((await new FileJournal(dir).originals('sysctl')).map((e) => e.key)).toEqual(['net.core.somaxconn']);
    expect(existsSync(join(dir, 'journal.json.lock'))).toBe(false);
  });

  it('a corrupt journal is an error with a code, never an empty list', async () => {
    const dir = tempDir('journal-bad');
    writeFileSync(join(dir, 'journal.json'), '{"version":1,"entries":[{"store":');
    await expect(new FileJournal(dir).originals()).rejects.toMatchObject({ code: 'TITAN_PERF_JOURNAL_CORRUPT' });
    await expect(new FileJournal(dir).recordOriginal(entry('a.b', '1'))).rejects.toMatchObject({
      code: 'TITAN_PERF_JOURNAL_CORRUPT',
    });
  });

  it('four processes recording at once lose nothing', async () => {
    const dir = tempDir('journal-race');
    const lib = join(ROOT, 'dist/src/engine/file-journal.js');
    const script = (n: number) =>
      `const { FileJournal } = require(${JSON.stringify(lib)});
       (async () => { const j = new FileJournal(${JSON.stringify(dir)});
         for (let i = 0; i < 40; i++) await j.recordOriginal({ store: 's', key: 'p${n}.k' + i, original: String(i), at: Date.now(), owner: 'p${n}' }); })();`;
    const children = [0, 1, 2, 3].map((n) => spawn(NODE, ['-e', script(n)], { stdio: 'inherit' }));
    const codes = await Promise.all(children.map(exited));
    expect(codes.map((c) => c.code)).toEqual([0, 0, 0, 0]);
    const entries = JSON.parse(readFileSync(join(dir, 'journal.json'), 'utf8')).entries;
    expect(entries).toHaveLength(160);
  });

  it('a lock left behind by a killed process is taken over', async () => {
    const dir = tempDir('journal-stale');
    // A pid that is certainly not running: a child that has already exited.
    const gone = spawn(NODE, ['-e', '']);
    await exited(gone);
    writeFileSync(join(dir, 'journal.json.lock'), String(gone.pid));
    const j = new FileJournal(dir);
    await j.recordOriginal(entry('vm.swappiness', '60'));
    expect((await j.originals()).length).toBe(1);
  });
});
