/**
 * Reading the file journal: it decides what root writes back into procfs,
 * Redis and config files, so it is read as untrusted input. The directory and
 * the file must be private to this user (or root), the file small and
 * regular, and every entry of the right shape; anything else stops with a
 * coded error that names the problem but never quotes the file.
 */
import { TitanPerfError } from '../errors';
import { checkTrustedDir, readTrustedFile } from '../trusted-files';
import type { JournalEntry } from './types';

/** Far above any real journal (a few KiB), far below what would hurt the process. */
export const JOURNAL_MAX_BYTES = 8 * 1024 * 1024;
const MAX_ORIGINAL = 1024 * 1024;
const STORE_RE = /^[a-z][a-z0-9-]{0,31}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this finds
const CONTROL_RE = /[\x00-\x1f\x7f]/;

/** The journal's entries; an empty list when the file does not exist yet. */
export function parseJournal(dir: string, path: string): JournalEntry[] {
  checkTrustedDir(dir, 'the state directory', 'TITAN_PERF_STATE_DIR_UNSAFE');
  const file = readTrustedFile(path, {
    what: 'the journal',
    maxBytes: JOURNAL_MAX_BYTES,
    noFollow: true,
    strictOwner: true,
    code: 'TITAN_PERF_JOURNAL_UNSAFE',
  });
  if (file === null) return [];
  return parseJournalText(file.text, path);
}

/** Validates journal text; exported for the property tests, which feed it arbitrary bytes. */
export function parseJournalText(text: string, path: string): JournalEntry[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // JSON.parse quotes the text it chokes on: that must not reach a log.
    throw corrupt(path, 'not JSON');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw corrupt(path, 'not an object at the top level');
  const { version, entries } = data as { version?: unknown; entries?: unknown };
  if (version !== 1) throw corrupt(path, 'unknown version (expected 1)');
  if (!Array.isArray(entries)) throw corrupt(path, "'entries' is not a list");
  const seen = new Set<string>();
  return entries.map((e, i) => {
    const why = entryProblem(e);
    if (why) throw corrupt(path, `entry ${i}: ${why}`);
    const entry = e as JournalEntry;
    const id = `${entry.store}\0${entry.key}`;
    if (seen.has(id)) throw corrupt(path, `entry ${i}: a second original for the same ${entry.store} key`);
    seen.add(id);
    return { store: entry.store, key: entry.key, original: entry.original, at: entry.at, owner: entry.owner };
  });
}

function entryProblem(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return 'not an object';
  const { store, key, original, at, owner } = e as Record<string, unknown>;
  if (typeof store !== 'string' || !STORE_RE.test(store)) return "'store' is not a store name";
  if (typeof key !== 'string' || key.length === 0 || key.length > 4096 || CONTROL_RE.test(key))
    return "'key' is not a setting name";
  if (
    original !== null &&
    (typeof original !== 'string' || original.length > MAX_ORIGINAL || original.includes('\0'))
  ) {
    return "'original' is neither text nor null";
  }
  if (typeof at !== 'number' || !Number.isFinite(at)) return "'at' is not a time";
  if (typeof owner !== 'string' || owner.length > 512) return "'owner' is not text";
  return undefined;
}

function corrupt(path: string, why: string): TitanPerfError {
  // Never guess originals: a wrong "original" restored is worse than stopping.
  return new TitanPerfError(
    'TITAN_PERF_JOURNAL_CORRUPT',
    `the journal ${path} is not valid (${why}); it holds the values to restore, so fix or move it by hand before applying again`,
  );
}
