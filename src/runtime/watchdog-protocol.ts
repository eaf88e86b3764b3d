/** What the main thread and the watchdog thread share: the heartbeat layout and the messages. */

/** Int32 slots: the last ping the main thread answered, the last ping sent. */
export const HB_ANSWERED = 0;
/** Float64 slots (epoch ms): when the main thread answered, when the ping was sent. */
export const HB_ANSWERED_AT = 0;
export const HB_SENT_AT = 1;
/** 2 x Int32 + 2 x Float64. */
export const HEARTBEAT_BYTES = 24;

export interface WatchdogData {
  heartbeat: SharedArrayBuffer;
  pings: unknown;
  captures: unknown;
  pid: number;
  thresholdMs: number;
  periodMs: number;
  maxPerMinute: number;
}

export interface RawFrame {
  function: string;
  url: string;
  line: number;
  column: number;
}

export type CaptureMessage =
  | {
      type: 'stack';
      at: number;
      stalledSince: number;
      requestedAt: number;
      pausedAt: number;
      resumedAt: number;
      /** The main thread turned before the pause landed. */
      turned: boolean;
      frames: RawFrame[];
    }
  | { type: 'skipped' | 'failed'; at: number; stalledSince: number; reason: string }
  /** The main thread worked for the watchdog (enabling the debugger) from start to end (epoch ms). */
  | { type: 'self'; at: number; start: number; end: number }
  | { type: 'unavailable'; at: number; reason: string };
