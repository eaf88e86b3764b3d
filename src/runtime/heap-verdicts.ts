/**
 * Heap and GC verdicts: the V8 heap limit and the heap/GC flags (execArgv and
 * NODE_OPTIONS) checked against the container's memory and the config. The
 * heap size cannot change after start, so nothing here is "tuned": each
 * verdict carries the exact NODE_OPTIONS that fixes it on the next start.
 * A pure function over its inputs so it can be tested on any numbers.
 */
import type { Verdict } from './runtime-readings';
import type { MemoryLimit } from './memory-limit';

const MiB = 1024 * 1024;
/** Share of the container a fixed heap flag should target; the rest is off-heap (buffers, native, code). */
export const HEAP_SHARE = 0.75;

export interface HeapVerdictInput {
  limit: MemoryLimit;
  /** v8.getHeapStatistics().heap_size_limit, bytes. */
  heapLimit: number;
  execArgv: readonly string[];
  nodeOptions: string;
  /** The config's intended old space, MiB. */
  maxOldSpaceSize: number;
  incrementalMarking: boolean;
  /** Whether the running Node accepts --max-old-space-size-percentage (process.allowedNodeEnvironmentFlags). */
  hasPercentageFlag: boolean;
}

/** Flags as V8 and Node accept them: `_` and `-` interchangeable, `--no-x` / `--nox`. */
export function parseHeapFlags(args: readonly string[]): Map<string, string | true> {
  const flags = new Map<string, string | true>();
  for (const raw of args) {
    if (!raw.startsWith('--')) continue;
    const eq = raw.indexOf('=');
    const name = (eq < 0 ? raw : raw.slice(0, eq)).replace(/_/g, '-');
    const norm = name.startsWith('--no') && !name.startsWith('--no-') && !name.startsWith('--node') ? `--no-${name.slice(4)}` : name;
    flags.set(norm, eq < 0 ? true : raw.slice(eq + 1));
  }
  return flags;
}

/** NODE_OPTIONS split the way Node splits it: on whitespace, double quotes grouping (`"a b"` is one argument). */
export function splitNodeOptions(value: string): string[] {
  const out: string[] = [];
  const re = /(?:"((?:\\.|[^"\\])*)"|([^\s"]+))+/g;
  for (const m of value.matchAll(re)) out.push(m[0].replace(/"((?:\\.|[^"\\])*)"/g, (_, q: string) => q.replace(/\\(.)/g, '$1')));
  return out;
}

const HEAP_FLAGS = ['--max-old-space-size', '--max-old-space-size-percentage'];

/** The whole NODE_OPTIONS value with the `drop` flags removed and `add` appended, quoted for a POSIX shell. */
export function nodeOptionsWith(nodeOptions: string, add: string | undefined, drop: readonly string[] = HEAP_FLAGS): string {
  const kept = splitNodeOptions(nodeOptions).filter((a) => {
    const name = a.split('=')[0].replace(/_/g, '-');
    return !drop.includes(name);
  });
  const parts = [...kept, ...(add ? [add] : [])].map((a) => (/[\s"]/.test(a) ? `"${a.replace(/"/g, '\\"')}"` : a));
  return `NODE_OPTIONS='${parts.join(' ')}'`;
}

function mib(bytes: number): number {
  return Math.round(bytes / MiB);
}

export function heapVerdicts(input: HeapVerdictInput): Verdict[] {
  const { limit, heapLimit } = input;
  const verdicts: Verdict[] = [];
  const flags = parseHeapFlags([...splitNodeOptions(input.nodeOptions), ...input.execArgv]);
  const inContainer = limit.source !== 'host';
  const where = inContainer ? `the container's ${mib(limit.bytes)} MiB (${limit.source}, ${limit.file})` : `host memory (${mib(limit.bytes)} MiB, no cgroup limit)`;
  const sized = Math.max(16, Math.floor((limit.bytes * HEAP_SHARE) / MiB));
  const fitFlag = input.hasPercentageFlag ? `--max-old-space-size-percentage=${HEAP_SHARE * 100}` : `--max-old-space-size=${sized}`;
  const fitFix = nodeOptionsWith(input.nodeOptions, fitFlag);
  const oldSpaceFlag = flags.get('--max-old-space-size');
  const flagMiB = typeof oldSpaceFlag === 'string' ? Number(oldSpaceFlag) : undefined;

  if (heapLimit > limit.bytes) {
    verdicts.push({
      id: 'heap-above-memory-limit',
      severity: 'critical',
      message: `V8's heap limit (${mib(heapLimit)} MiB) is above ${where}: the process is OOM-killed before V8 collects garbage hard. The heap cannot change at run time; restart with the fix.`,
      fix: fitFix,
    });
  } else if (inContainer && heapLimit > limit.bytes * 0.9) {
    verdicts.push({
      id: 'heap-near-memory-limit',
      severity: 'warning',
      message: `V8's heap limit (${mib(heapLimit)} MiB) leaves under 10% of ${where} for buffers, native memory and code: an OOM kill is likely under load.`,
      fix: fitFix,
    });
  } else if (inContainer && heapLimit < limit.bytes * 0.25) {
    verdicts.push({
      id: 'heap-far-below-memory-limit',
      severity: 'info',
      message: `V8's heap limit (${mib(heapLimit)} MiB) uses under a quarter of ${where}: memory the container pays for is wasted and GC runs more often than needed.`,
      fix: fitFix,
    });
  }

  const wanted = input.maxOldSpaceSize;
  if (wanted * MiB > limit.bytes) {
    verdicts.push({
      id: 'configured-heap-above-memory-limit',
      severity: 'critical',
      message: `nodejs.maxOldSpaceSize (${wanted} MiB) is above ${where}: applying it would risk OOM kills. Lower it (or the container limit must grow).`,
      fix: fitFix,
    });
  } else if (flagMiB !== wanted) {
    verdicts.push({
      id: 'configured-heap-not-in-effect',
      severity: 'warning',
      message: `nodejs.maxOldSpaceSize is ${wanted} MiB but the process runs with ${flagMiB === undefined ? "V8's default" : `--max-old-space-size=${oldSpaceFlag}`} (heap limit ${mib(heapLimit)} MiB). It takes effect only at start.`,
      fix: nodeOptionsWith(input.nodeOptions, `--max-old-space-size=${wanted}`),
    });
  }

  if (input.incrementalMarking && flags.get('--no-incremental-marking') === true) {
    verdicts.push({
      id: 'incremental-marking-disabled',
      severity: 'warning',
      message: '--no-incremental-marking is set: major GCs run as one long pause instead of small steps, which shows up as event-loop delay spikes.',
      fix: nodeOptionsWith(input.nodeOptions, undefined, ['--no-incremental-marking', '--noincremental-marking']),
    });
  }

  for (const [flag, why] of [
    ['--gc-interval', 'forces a GC every N allocations (a V8 debugging flag)'],
    ['--stress-compaction', 'compacts on every GC (a V8 debugging flag)'],
    ['--trace-gc', 'prints a line per GC to stdout'],
    ['--expose-gc', 'lets code call global.gc(), a full blocking collection'],
  ] as const) {
    if (flags.has(flag)) {
      verdicts.push({
        id: `gc-flag-${flag.slice(2)}`,
        severity: flag === '--expose-gc' || flag === '--trace-gc' ? 'info' : 'warning',
        message: `${flag} ${why}; rarely wanted in production.`,
        fix: nodeOptionsWith(input.nodeOptions, undefined, [flag]),
      });
    }
  }

  if (limit.notes.length > 0 && limit.source === 'host') {
    verdicts.push({
      id: 'memory-limit-unknown',
      severity: 'info',
      message: `No container memory limit found (${limit.notes.join('; ')}); host memory (${mib(limit.bytes)} MiB) is used as the limit.`,
    });
  }
  return verdicts;
}
