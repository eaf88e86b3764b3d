/**
 * V8 heap flags as the running process sees them: NODE_OPTIONS first, then
 * the command line (process.execArgv). Node hands both to V8 in that order
 * and the last value of a flag wins, so a flag on the command line overrides
 * the same flag in NODE_OPTIONS (verified on Node 22, 24 and 26).
 */

/** Flags as V8 and Node accept them: `_` and `-` interchangeable, `--no-x` / `--nox`. */
export function parseHeapFlags(args: readonly string[]): Map<string, string | true> {
  const flags = new Map<string, string | true>();
  for (const raw of args) {
    if (!raw.startsWith('--')) continue;
    const eq = raw.indexOf('=');
    const name = (eq < 0 ? raw : raw.slice(0, eq)).replace(/_/g, '-');
    const norm =
      name.startsWith('--no') && !name.startsWith('--no-') && !name.startsWith('--node')
        ? `--no-${name.slice(4)}`
        : name;
    flags.set(norm, eq < 0 ? true : raw.slice(eq + 1));
  }
  return flags;
}

/** NODE_OPTIONS split the way Node splits it: on whitespace, double quotes grouping (`"a b"` is one argument). */
export function splitNodeOptions(value: string): string[] {
  const out: string[] = [];
  const re = /(?:"((?:\\.|[^"\\])*)"|([^\s"]+))+/g;
  for (const m of value.matchAll(re))
    out.push(m[0].replace(/"((?:\\.|[^"\\])*)"/g, (_, q: string) => q.replace(/\\(.)/g, '$1')));
  return out;
}

/** The flags in effect: NODE_OPTIONS, then execArgv (whose values win). */
export function effectiveHeapFlags(nodeOptions: string, execArgv: readonly string[]): Map<string, string | true> {
  return parseHeapFlags([...splitNodeOptions(nodeOptions), ...execArgv]);
}

/** Where a flag's effective value comes from: the command line wins over NODE_OPTIONS. */
export function flagOrigin(
  name: string,
  nodeOptions: string,
  execArgv: readonly string[],
): 'command line' | 'NODE_OPTIONS' | undefined {
  if (parseHeapFlags(execArgv).has(name)) return 'command line';
  if (parseHeapFlags(splitNodeOptions(nodeOptions)).has(name)) return 'NODE_OPTIONS';
  return undefined;
}
