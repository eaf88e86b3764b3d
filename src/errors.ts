/**
 * Every failure titan-perf reports carries a stable `code` that callers and
 * tests can match on; the message says what to change.
 */
export class TitanPerfError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TitanPerfError';
    this.code = code;
  }
}

export interface ConfigIssue {
  /** Dotted field path, e.g. `nodejs.connectionPooling.maxConnections`. */
  path: string;
  /** The offending value as given (already redacted for secrets). */
  value: unknown;
  /** What is allowed, in words. */
  expected: string;
  /** Where the value came from: a file path, an env variable, `code`. */
  source?: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.source ? ` (from ${issue.source})` : '';
  const shown = issue.value === undefined ? 'undefined' : describe(issue.value);
  return `${issue.path || '(root)'}: got ${shown}${where}; expected ${issue.expected}`;
}

export class ConfigError extends TitanPerfError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[], code = 'TITAN_PERF_CONFIG_INVALID') {
    super(code, `invalid titan-perf configuration:\n  ${issues.map(formatIssue).join('\n  ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export class ArgumentError extends TitanPerfError {
  constructor(argument: string, value: unknown, expected: string) {
    super('TITAN_PERF_INVALID_ARGUMENT', `${argument}: got ${describe(value)}; expected ${expected}`);
    this.name = 'ArgumentError';
  }
}

function describe(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? String(value);
  } catch {
    // A cycle, or an object whose toString throws: its kind is enough to name the problem.
    return Array.isArray(value) ? 'a list' : `a value of type ${typeof value}`;
  }
}
