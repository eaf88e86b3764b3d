/** What the main thread and the watchdog thread share: the heartbeat layout and the messages. */

/** Int32 slots: the last ping the main thread answered, the last ping sent. */
export const HB_ANSWERED = 0;
export const HB_SENT = 1;
/**
 * Int32 slots of the exit handshake: the main thread sets STOP (and wakes the
 * watchdog, which sleeps on that slot); the watchdog sets DETACHED once its
 * inspector session is closed.
 */
export const HB_STOP = 2;
export const HB_DETACHED = 3;
export const HB_INT32_SLOTS = 4;
/** Float64 slots (epoch ms), after the Int32 ones: when the main thread answered, when the ping was sent. */
export const HB_ANSWERED_AT = 0;
export const HB_SENT_AT = 1;
export const HB_FLOAT64_OFFSET = HB_INT32_SLOTS * 4;
/** 4 x Int32 + 2 x Float64. */
export const HEARTBEAT_BYTES = HB_FLOAT64_OFFSET + 2 * 8;

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
