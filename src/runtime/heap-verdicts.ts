/**
 * Heap and GC verdicts: the V8 heap limit and the heap/GC flags (execArgv and
 * NODE_OPTIONS) checked against the container's memory and the config. The
 * heap size cannot change after start, so nothing here is "tuned": each
 * verdict carries the exact change that fixes it on the next start (the
 * NODE_OPTIONS line, or the command-line flag where the command line sets it,
 * since that one wins).
 * A pure function over its inputs so it can be tested on any numbers.
 */
import type { Verdict } from './runtime-readings';
import type { MemoryLimit } from './memory-limit';
import { effectiveHeapFlags, flagOrigin, parseHeapFlags, splitNodeOptions } from './heap-flags';

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
  /**
   * Whether the user set maxOldSpaceSize (rather than leaving the default):
   * only a size someone chose can be "not in effect" (warning) or "above the
   * memory limit" (critical). Default true.
   */
  maxOldSpaceSizeChosen?: boolean;
  incrementalMarking: boolean;
  /** Whether the running Node accepts --max-old-space-size-percentage (process.allowedNodeEnvironmentFlags). */
  hasPercentageFlag: boolean;
}

const HEAP_FLAGS = ['--max-old-space-size', '--max-old-space-size-percentage'];

/** The whole NODE_OPTIONS value with the `drop` flags removed and `add` appended, quoted for a POSIX shell. */
export function nodeOptionsWith(
  nodeOptions: string,
  add: string | undefined,
  drop: readonly string[] = HEAP_FLAGS,
): string {
  const kept = splitNodeOptions(nodeOptions).filter((a) => {
    const name = a.split('=')[0].replace(/_/g, '-');
    return !drop.includes(name);
  });
  const parts = [...kept, ...(add ? [add] : [])].map((a) => (/[\s"]/.test(a) ? `"${a.replace(/"/g, '\\"')}"` : a));
  return `NODE_OPTIONS='${parts.join(' ')}'`;
}

type HeapFix = ((flag: string) => string) & { commandLine: boolean };

/**
 * How to restart with a heap flag. A heap flag on the command line wins over
 * NODE_OPTIONS (Node gives V8 the command line last), so where the command
 * line sets one, a NODE_OPTIONS line would change nothing: the advice names
 * the flag to change there instead.
 */
function heapFix(input: HeapVerdictInput): HeapFix {
  const onCommandLine = HEAP_FLAGS.filter((f) => flagOrigin(f, input.nodeOptions, input.execArgv) === 'command line');
  const fix = (flag: string): string => {
    if (onCommandLine.length === 0) return nodeOptionsWith(input.nodeOptions, flag);
    const current = input.execArgv.filter((a) => onCommandLine.includes(a.split('=')[0].replace(/_/g, '-')));
    return (
      `on the command line that starts node (process.execArgv; e.g. the Dockerfile CMD, the npm script, the process manager's unit): ` +
      `replace ${current.join(' ')} with ${flag}. NODE_OPTIONS cannot change it: the command line wins.`
    );
  };
  return Object.assign(fix, { commandLine: onCommandLine.length > 0 });
}

/** How to restart without a flag: from NODE_OPTIONS, or from the command line where it is given there (also). */
function dropFix(input: HeapVerdictInput, flag: string): string {
  if (flagOrigin(flag, input.nodeOptions, input.execArgv) === 'command line') {
    const given = input.execArgv.filter((a) => parseHeapFlags([a]).has(flag));
    return `remove ${given.join(' ')} from the command line that starts node (process.execArgv); NODE_OPTIONS cannot remove it.`;
  }
  const spellings = [flag, flag.startsWith('--no-') ? `--no${flag.slice(5)}` : flag];
  return nodeOptionsWith(input.nodeOptions, undefined, spellings);
}

function mib(bytes: number): number {
  return Math.round(bytes / MiB);
}

export function heapVerdicts(input: HeapVerdictInput): Verdict[] {
  const { limit, heapLimit } = input;
  const verdicts: Verdict[] = [];
  const flags = effectiveHeapFlags(input.nodeOptions, input.execArgv);
  const inContainer = limit.source !== 'host';
  const where = inContainer
    ? `the container's ${mib(limit.bytes)} MiB (${limit.source}, ${limit.file})`
    : `host memory (${mib(limit.bytes)} MiB, no cgroup limit)`;
  const sized = Math.max(16, Math.floor((limit.bytes * HEAP_SHARE) / MiB));
  const fitFlag = input.hasPercentageFlag
    ? `--max-old-space-size-percentage=${HEAP_SHARE * 100}`
    : `--max-old-space-size=${sized}`;
  const fix = heapFix(input);
  const fitFix = fix(fitFlag);
  const oldSpaceFlag = flags.get('--max-old-space-size');
  const flagMiB = typeof oldSpaceFlag === 'string' ? Number(oldSpaceFlag) : undefined;
  const chosen = input.maxOldSpaceSizeChosen ?? true;
  const running = `${flagMiB === undefined ? "V8's default" : `--max-old-space-size=${oldSpaceFlag}`} (heap limit ${mib(heapLimit)} MiB)`;

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
  if (!chosen) {
    // The default is not a wish of the user's: say what runs, warn about nothing.
    if (flagMiB !== wanted) {
      verdicts.push({
        id: 'configured-heap-not-in-effect',
        severity: 'info',
        message: `nodejs.maxOldSpaceSize is not set (its default is ${wanted} MiB); the process runs with ${running}. Set nodejs.maxOldSpaceSize to the size you intend and titan-perf checks that the process runs with it.`,
      });
    }
  } else if (wanted * MiB > limit.bytes) {
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
      message: `nodejs.maxOldSpaceSize is ${wanted} MiB but the process runs with ${running}${fix.commandLine ? ', set on the command line' : ''}. It takes effect only at start.`,
      fix: fix(`--max-old-space-size=${wanted}`),
    });
  }

  if (input.incrementalMarking && flags.get('--no-incremental-marking') === true) {
    verdicts.push({
      id: 'incremental-marking-disabled',
      severity: 'warning',
      message:
        '--no-incremental-marking is set: major GCs run as one long pause instead of small steps, which shows up as event-loop delay spikes.',
      fix: dropFix(input, '--no-incremental-marking'),
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
        fix: dropFix(input, flag),
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
