/**
 * A fixture app in a child process on the test's Node, its output collected
 * line by line; `waitForLine` polls (no fixed sleeps) with generous timeouts
 * for a loaded machine; `end()` closes stdin (the fixtures' exit signal) and
 * waits for the exit, killing only this child if it hangs.
 */
import { spawn, type ChildProcess } from 'node:child_process';

import { FIXTURES, ROOT } from '../../helpers/paths';

export { FIXTURES, ROOT };

export interface FixtureProcess {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  write(line: string): void;
  /** Closes stdin, waits for the exit; returns the exit code. */
  end(timeoutMs?: number): Promise<number | null>;
}

/** Env without OTEL_* / TITAN_PERF_* of the test runner's own, plus `env`. */
export function cleanEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      v !== undefined &&
      !k.startsWith('OTEL_') &&
      !k.startsWith('TITAN_PERF_') &&
      !k.startsWith('VITEST') &&
      k !== 'NODE_OPTIONS'
    )
      out[k] = v;
  }
  return { ...out, ...env };
}

export function startFixture(args: string[], env: Record<string, string> = {}): FixtureProcess {
  const child = spawn(process.execPath, args, { cwd: FIXTURES, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const collect = (into: string[]) => {
    let rest = '';
    return (chunk: Buffer) => {
      const text = rest + chunk.toString('utf8');
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      into.push(...lines);
    };
  };
  child.stdout!.on('data', collect(stdout));
  child.stderr!.on('data', collect(stderr));
  let exited: Promise<number | null> = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout,
    stderr,
    async waitForLine(re, timeoutMs = 40_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = stdout.find((l) => re.test(l));
        if (hit) return hit;
        if (child.exitCode !== null)
          throw new Error(
            `fixture exited (${child.exitCode}) before ${re}\nstdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`,
          );
        if (Date.now() > deadline)
          throw new Error(
            `no line ${re} within ${timeoutMs} ms\nstdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`,
          );
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    write(line) {
      child.stdin!.write(`${line}\n`);
    },
    async end(timeoutMs = 30_000) {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      exited = Promise.resolve(code);
      return code;
    },
  };
}
