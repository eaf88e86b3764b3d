/**
 * The main thread's side of the stall watchdog: starts the watchdog thread,
 * answers its pings (one Atomics store per ping, on a turn the loop takes
 * anyway: no timer of its own) and turns what the thread captured into a
 * StallStack. The thread is unref'd and dies with the process; anything that
 * goes wrong turns the watchdog off with the reason in status().
 */
import { join, sep } from 'node:path';
import type { MessagePort, Worker } from 'node:worker_threads';
import type { StallCaptureConfig } from '../config/sections/nodejs';
import type { StackFrame, StallStack } from './runtime-readings';
import { selfTime } from './self-time';
import {
  HB_ANSWERED,
  HB_ANSWERED_AT,
  HB_DETACHED,
  HB_FLOAT64_OFFSET,
  HB_INT32_SLOTS,
  HB_SENT_AT,
  HB_STOP,
  HEARTBEAT_BYTES,
  type CaptureMessage,
  type RawFrame,
  type WatchdogData,
} from './watchdog-protocol';

export interface WatchdogStatus {
  state: 'on' | 'off' | 'failed';
  reason: string;
  thresholdMs?: number;
  stacksTaken: number;
  stacksSkipped: number;
}

/**
 * How long the exiting main thread waits for the watchdog to close its
 * inspector session. It answers within a millisecond or two from its sleep
 * (measured on Node 22, 24 and 26); busy taking a stack, it may not answer,
 * and Node then prints its "Waiting for the debugger to disconnect..." line:
 * a line on stderr is better than a longer exit.
 */
const EXIT_WAIT_MS = 25;
/** A pause that takes longer than this to land means the main thread was in native code. */
const NATIVE_LATENCY_MS = 15;
const HERE = __dirname;
/**
 * Where titan-perf's own code lives, whose frames are never the app's. As
 * dist/src/runtime/watchdog.js, the package's dist folder: the preload entry
 * (dist/preload/index.js) holds the agent and its tuners inlined. Inside the
 * zero-install bundle (any other file name), the bundle's folder.
 */
const OWN_CODE = (/[\\/]watchdog\.js$/.test(__filename) ? join(HERE, '..', '..') : HERE) + sep;

export interface CapturedStall {
  /** Epoch ms from which the main thread had not turned (within one ping period). */
  stalledSince: number;
  stack: StallStack;
}

export class Watchdog {
  private worker: Worker | undefined;
  private pings: MessagePort | undefined;
  private captures: MessagePort | undefined;
  private seq: Int32Array | undefined;
  private times: Float64Array | undefined;
  private state: WatchdogStatus['state'] = 'off';
  private reason: string;
  private taken = 0;
  private skipped = 0;
  private pending: CapturedStall[] = [];

  constructor(
    private readonly config: StallCaptureConfig,
    /** Called on the first turn after a ping went unanswered for the threshold: a stall just ended. */
    private readonly onLateTurn: () => void,
    private readonly fault: (what: string, err: unknown) => void,
  ) {
    this.reason = config.enabled ? 'not started' : 'nodejs.stallCapture.enabled is false';
  }

  start(): void {
    if (!this.config.enabled || this.worker) return;
    const inspector = require('node:inspector') as typeof import('node:inspector');
    if (inspector.url()) {
      this.reason = `an inspector is open on ${inspector.url()} (--inspect): pausing the main thread would show in the debugger, so no stacks are taken`;
      return;
    }
    try {
      const { Worker, MessageChannel } = require('node:worker_threads') as typeof import('node:worker_threads');
      const heartbeat = new SharedArrayBuffer(HEARTBEAT_BYTES);
      this.seq = new Int32Array(heartbeat, 0, HB_INT32_SLOTS);
      this.times = new Float64Array(heartbeat, HB_FLOAT64_OFFSET, 2);
      const pings = new MessageChannel();
      const captures = new MessageChannel();
      this.pings = pings.port1;
      this.captures = captures.port1;
      // Listening on an unref'd port: a turn answers a ping, and the port never keeps the process alive.
      pings.port1.on('message', (n: number) => this.answer(n));
      pings.port1.unref();
      captures.port1.on('message', (m: CaptureMessage) => this.received(m));
      captures.port1.unref();
      // Each check is a wake-up of the watchdog thread: half the threshold keeps a stack inside
      // any stall longer than 1.5x the threshold at half the wake-ups of a quarter.
      const periodMs = Math.max(10, Math.min(100, Math.floor(this.config.threshold / 2)));
      const data: WatchdogData = {
        heartbeat,
        pings: pings.port2,
        captures: captures.port2,
        pid: process.pid,
        thresholdMs: this.config.threshold,
        periodMs,
        maxPerMinute: this.config.maxPerMinute,
      };
      const env: Record<string, string | undefined> = { ...process.env, TITAN_PERF_DISABLED: '1' };
      delete env.NODE_OPTIONS;
      const worker = new Worker(`${HERE}/watchdog-worker.js`, {
        // No --require/--import (the preload would load itself into its own watchdog), no --inspect.
        execArgv: [],
        env,
        workerData: data,
        transferList: [pings.port2, captures.port2] as unknown as import('node:worker_threads').Transferable[],
        stdout: false,
        stderr: false,
        resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4, stackSizeMb: 1 },
        name: 'titan-perf watchdog',
      });
      worker.unref();
      worker.on('error', (err) => this.fail('the stall watchdog thread', err));
      worker.on('exit', (code) => {
        if (this.state === 'on') this.fail('the stall watchdog thread', new Error(`exited with code ${code}`));
      });
      this.worker = worker;
      // Not a signal handler: it neither delays the exit beyond EXIT_WAIT_MS nor changes its code.
      process.on('exit', this.detachOnExit);
      this.state = 'on';
      this.reason = `a watchdog thread takes the main thread's stack when it has not turned for ${this.config.threshold} ms (at most ${this.config.maxPerMinute} a minute)`;
    } catch (err) {
      this.fail('starting the stall watchdog', err);
    }
  }

  /**
   * A session connected to the main thread is still open when the process
   * exits: Node would print "Waiting for the debugger to disconnect..." on
   * the app's stderr. Wakes the watchdog to close it, and waits a bounded time.
   */
  private readonly detachOnExit = (): void => {
    const seq = this.seq;
    if (!seq || !this.worker) return;
    try {
      this.signalStop();
      Atomics.wait(seq, HB_DETACHED, 0, EXIT_WAIT_MS);
    } catch {
      // A main thread that may not block (some embedders): the line may show, nothing worse.
    }
  };

  /** Wakes the watchdog from its sleep with the stop slot set: it closes its session and ends its loop. */
  private signalStop(): void {
    if (!this.seq) return;
    Atomics.store(this.seq, HB_STOP, 1);
    Atomics.notify(this.seq, HB_STOP);
  }

  stop(): void {
    const w = this.worker;
    this.worker = undefined;
    process.removeListener('exit', this.detachOnExit);
    this.signalStop();
    if (this.state === 'on') {
      this.state = 'off';
      this.reason = 'stopped';
    }
    this.pings?.close();
    this.captures?.close();
    w?.terminate().catch(() => undefined);
  }

  private fail(what: string, err: unknown): void {
    this.state = 'failed';
    this.reason = `${what} failed: ${String((err as Error)?.message ?? err)}; no stacks are taken, stalls are still counted`;
    this.fault(what, err);
    this.stop();
    this.state = 'failed';
  }

  private answer(n: number): void {
    if (!this.seq || !this.times) return;
    const t = performance.timeOrigin + performance.now();
    const late = t - this.times[HB_SENT_AT] >= this.config.threshold;
    this.times[HB_ANSWERED_AT] = t;
    Atomics.store(this.seq, HB_ANSWERED, n);
    if (late) this.onLateTurn();
  }

  private received(m: CaptureMessage): void {
    if (m.type === 'self') {
      // Timed by the worker from sending to the answer: an app block that began meanwhile is inside it.
      selfTime().add(m.start - performance.timeOrigin, m.end - performance.timeOrigin, false);
      return;
    }
    if (m.type === 'unavailable') {
      this.fail('the inspector session of the stall watchdog', new Error(m.reason));
      return;
    }
    const stack = this.toStack(m);
    if (!stack) return;
    this.pending.push({ stalledSince: m.stalledSince, stack });
    if (this.pending.length > 32) this.pending.shift();
  }

  /** Reads what the watchdog thread sent that was not handled yet (synchronously, before a stall is reported). */
  drain(): void {
    const port = this.captures;
    if (!port) return;
    const { receiveMessageOnPort } = require('node:worker_threads') as typeof import('node:worker_threads');
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port))
      this.received(m.message as CaptureMessage);
  }

  /** The capture of the stall that ran from `start` to `end` (epoch ms), removed from the queue. */
  take(start: number, end: number): StallStack | undefined {
    this.drain();
    const i = this.pending.findIndex((c) => c.stack.at >= start - 5 && c.stack.at <= end + 5);
    if (i < 0) return undefined;
    const [c] = this.pending.splice(i, 1);
    // Older captures cannot match a later stall.
    this.pending = this.pending.filter((p) => p.stack.at > c.stack.at);
    return c.stack;
  }

  private toStack(m: Extract<CaptureMessage, { stalledSince: number }>): StallStack | undefined {
    if (m.type === 'skipped') {
      this.skipped++;
      return {
        frames: [],
        kind: 'js',
        note: `no stack: ${m.reason} (nodejs.stallCapture.maxPerMinute)`,
        pauseLatencyMs: 0,
        pausedMs: 0,
        at: m.at,
      };
    }
    if (m.type !== 'stack') {
      return {
        frames: [],
        kind: 'js',
        note: `no stack: the pause failed (${m.reason})`,
        pauseLatencyMs: 0,
        pausedMs: 0,
        at: m.at,
      };
    }
    this.taken++;
    const pauseLatencyMs = round(m.pausedAt - m.requestedAt);
    const pausedMs = round(m.resumedAt - m.pausedAt);
    // Parsing a large source map the first time is titan-perf's own main-thread work, not the app's.
    const mapped = sourceMapsEnabled() ? selfTime().measure(() => m.frames.map(mapFrame)) : m.frames.map(mapFrame);
    const frames = mapped.map((f) => f.frame).filter((f) => !isOwnOrInternal(f));
    const base = { pauseLatencyMs, pausedMs, at: m.pausedAt, sourceMapped: mapped.some((f) => f.mapped) || undefined };
    if (m.turned || frames.length === 0) {
      return {
        ...base,
        frames: [],
        kind: 'native',
        note: `no JavaScript frame of the stall: the main thread was in native code (a synchronous crypto, zlib or fs call, or the engine itself) and the stall ended before JavaScript ran again`,
      };
    }
    if (pauseLatencyMs > NATIVE_LATENCY_MS) {
      return {
        ...base,
        frames,
        kind: 'native',
        note: `the main thread was in native code for about ${Math.round(pauseLatencyMs)} ms of the stall; the frames show the JavaScript that called it, paused when it returned`,
      };
    }
    return { ...base, frames, kind: 'js' };
  }

  status(): WatchdogStatus {
    return {
      state: this.state,
      reason: this.reason,
      thresholdMs: this.config.enabled ? this.config.threshold : undefined,
      stacksTaken: this.taken,
      stacksSkipped: this.skipped,
    };
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** Judged on the code that ran: a build of titan-perf with source maps must not map its own frames out of OWN_CODE. */
function isOwnOrInternal(f: StackFrame): boolean {
  const file = f.generated?.file ?? f.file;
  return file.startsWith('node:') || file === '' || file.startsWith(OWN_CODE);
}

function toPath(url: string): string {
  if (!url.startsWith('file:')) return url;
  try {
    return (require('node:url') as typeof import('node:url')).fileURLToPath(url);
  } catch {
    return url;
  }
}

function sourceMapsEnabled(): boolean {
  return (process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled === true;
}

/**
 * Through the app's own source maps, when the process runs with them
 * (--enable-source-maps, NODE_OPTIONS, or process.setSourceMapsEnabled(true)):
 * Node has then kept the map of each module it loaded. Runs on the main
 * thread after the pause, never while it is paused. A frame without a map
 * entry keeps its position in the code that ran.
 */
function mapFrame(raw: RawFrame): { frame: StackFrame; mapped: boolean } {
  const frame: StackFrame = { function: raw.function, file: toPath(raw.url), line: raw.line, column: raw.column };
  if (!sourceMapsEnabled() || !raw.url) return { frame, mapped: false };
  try {
    const { findSourceMap } = require('node:module') as typeof import('node:module');
    const map = findSourceMap(raw.url) ?? findSourceMap(frame.file);
    // Zero-based on both sides; an empty object when the position has no mapping.
    const entry = map?.findEntry(raw.line - 1, raw.column - 1) as
      | { originalSource?: string; originalLine?: number; originalColumn?: number; name?: string }
      | undefined;
    if (!entry || entry.originalSource === undefined || entry.originalLine === undefined)
      return { frame, mapped: false };
    return {
      frame: {
        function: raw.function || entry.name || '',
        file: toPath(entry.originalSource),
        line: entry.originalLine + 1,
        column: (entry.originalColumn ?? 0) + 1,
        generated: { file: frame.file, line: frame.line, column: frame.column },
      },
      mapped: true,
    };
  } catch {
    return { frame, mapped: false };
  }
}
