/**
 * Turns each event-loop stall of the app into a `performance-warning`: every
 * stall is counted, and a warning goes out at most once per
 * `warningCooldown`, carrying how many stalls the cooldown held back. A stall
 * is an instant event: no recovery follows it.
 */
import type { EventLoopStall, PerformanceWarning } from './runtime-readings';

export const STALL_METRIC = 'eventLoop.stall';

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
    const where = stall.stack?.frames[0]
      ? `, in ${stall.stack.frames[0].function || '(anonymous)'} ${stall.stack.frames[0].file}:${stall.stack.frames[0].line}`
      : stall.stack?.note
        ? `; ${stall.stack.note}`
        : '';
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
      message: `the event loop was blocked for ${d} ms from ${new Date(stall.startedAt).toISOString()}, at or above nodejs.maxEventLoopStall of ${stall.threshold} ms${where}${more}`,
    });
  }
}
