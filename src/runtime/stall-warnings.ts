/**
 * Turns each event-loop stall of the app into a `performance-warning`: every
 * stall is counted, and a warning goes out at most once per
 * `warningCooldown`, carrying how many stalls the cooldown held back. A stall
 * is an instant event: no recovery follows it.
 */
import { CPU_STARVED_SHARE } from './cpu-wait';
import type { EventLoopStall, PerformanceWarning } from './runtime-readings';

export const STALL_METRIC = 'eventLoop.stall';

/** What the warning says made the stall: the machine, or the code the watchdog caught. */
function cause(stall: EventLoopStall): string {
  const half = stall.durationMs * CPU_STARVED_SHARE;
  const wait = stall.cpuWait;
  // A thread that waited for a CPU ran no code meanwhile: a stack would name whatever ran next.
  if (wait && wait.minMs >= half)
    return `; the main thread waited at least ${wait.minMs} ms of it for a CPU: other processes or the container's CPU limit held it, not the app's code`;
  const top = stall.stack?.frames[0];
  const code = top
    ? `, in ${top.function || '(anonymous)'} ${top.file}:${top.line}`
    : stall.stack?.note
      ? `; ${stall.stack.note}`
      : '';
  const machine =
    wait && wait.maxMs >= half
      ? `; the main thread may have waited up to ${wait.maxMs} ms of it for a CPU (other processes or the container's CPU limit)`
      : '';
  return code + machine;
}

export class StallWarnings {
  private lastWarnedAt: number | undefined;
  private heldBack = 0;
  /** App stalls since start. */
  count = 0;

  constructor(
    private readonly cooldownMs: number,
    private readonly onWarning: (w: PerformanceWarning) => void,
  ) {}

  add(stall: EventLoopStall, now = Date.now()): void {
    if (stall.self) return;
    this.count++;
    this.heldBack++;
    if (this.lastWarnedAt !== undefined && now - this.lastWarnedAt < this.cooldownMs) return;
    this.lastWarnedAt = now;
    const count = this.heldBack;
    this.heldBack = 0;
    const d = Math.round(stall.durationMs * 10) / 10;
    const more = count > 1 ? ` (${count - 1} more since the previous warning)` : '';
    const wait = stall.cpuWait;
    this.onWarning({
      metric: STALL_METRIC,
      value: d,
      threshold: stall.threshold,
      since: stall.startedAt,
      severity: stall.durationMs >= stall.threshold * 10 ? 'critical' : 'warning',
      instant: true,
      durationMs: d,
      count,
      stack: stall.stack,
      ...(wait && { cpuWait: wait }),
      message: `the event loop was blocked for ${d} ms from ${new Date(stall.startedAt).toISOString()}, at or above nodejs.maxEventLoopStall of ${stall.threshold} ms${cause(stall)}${more}`,
    });
  }
}
