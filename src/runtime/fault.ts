/**
 * Fail-open reporting: a fault inside titan-perf is printed once per kind on
 * stderr and swallowed, so the host app never sees an exception of ours.
 */
const reported = new Set<string>();

export function reportFault(what: string, err: unknown): void {
  try {
    if (reported.has(what)) return;
    reported.add(what);
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`titan-perf: ${what} failed (${msg}); the app continues without it\n`);
  } catch {
    // stderr itself may be closed; there is nowhere left to report.
  }
}
