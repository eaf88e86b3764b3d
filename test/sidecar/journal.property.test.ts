/**
 * Property tests of the journal reader: whatever bytes sit in journal.json,
 * reading it returns entries of the right shape or throws a coded error; it
 * never writes (the directory is byte-for-byte the same afterwards) and its
 * message never carries the file's contents.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FileJournal } from '../../dist/src/engine/file-journal.js';
import { parseJournalText } from '../../dist/src/engine/journal-format.js';
import { tempDir } from './support';

const MARKER = 'Zq7MARKERxK';
const CODES = ['TITAN_PERF_JOURNAL_CORRUPT', 'TITAN_PERF_JOURNAL_UNSAFE'];

function expectEntries(entries: unknown[]): void {
  for (const e of entries as Record<string, unknown>[]) {
    expect(typeof e.store).toBe('string');
    expect(typeof e.key).toBe('string');
    expect(e.original === null || typeof e.original === 'string').toBe(true);
    expect(Number.isFinite(e.at)).toBe(true);
    expect(typeof e.owner).toBe('string');
  }
}

/** Journal-like JSON: the right skeleton with fields of any type, plus the marker somewhere. */
const journalLike = fc
  .record({
    version: fc.oneof(fc.constant(1), fc.anything()),
    entries: fc.oneof(
      fc.array(
        fc.record(
          {
            store: fc.oneof(fc.constantFrom('sysctl', 'logrotate', 'redis'), fc.anything()),
            key: fc.oneof(fc.constantFrom('net.core.somaxconn', `${MARKER}.key`), fc.anything()),
            original: fc.oneof(fc.constant(null), fc.string(), fc.constant(MARKER), fc.anything()),
            at: fc.oneof(fc.integer(), fc.anything()),
            owner: fc.oneof(fc.string(), fc.anything()),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 4 },
      ),
      fc.anything(),
    ),
  })
  .map((j) => JSON.stringify(j) ?? 'null');

describe('journal reader properties', () => {
  it('arbitrary bytes and journal-like JSON: entries of the right shape or a coded error without the contents', async () => {
    const dir = tempDir('journal-prop');
    const path = join(dir, 'journal.json');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc
            .uint8Array({ maxLength: 1024 })
            .map((b) => Buffer.concat([Buffer.from(MARKER), Buffer.from(b), Buffer.from(MARKER)])),
          journalLike.map((s) => Buffer.from(s)),
        ),
        async (bytes) => {
          writeFileSync(path, bytes, { mode: 0o600 });
          const before = readdirSync(dir).sort();
          try {
            expectEntries(await new FileJournal(dir).originals());
          } catch (err) {
            expect(CODES, String((err as Error)?.stack)).toContain((err as { code?: string }).code);
            // The key marker may be named as the wrong key of an entry only by index, never quoted.
            expect((err as Error).message).not.toContain(MARKER);
          }
          expect(readdirSync(dir).sort()).toEqual(before);
          expect(readFileSync(path).equals(bytes)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the text validator alone, at higher volume', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), journalLike), (text) => {
        try {
          expectEntries(parseJournalText(text, '/state/journal.json'));
        } catch (err) {
          expect((err as { code?: string }).code).toBe('TITAN_PERF_JOURNAL_CORRUPT');
          expect((err as Error).message).not.toContain(MARKER);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
