/**
 * The watchdog thread. It never runs the preload (started with execArgv []
 * and TITAN_PERF_DISABLED=1). It pings the main thread through a
 * MessagePort; the main thread answers on its next turn by writing into
 * shared memory, at no cost of its own beyond that write. A ping that stays
 * unanswered for `thresholdMs` is a stall: the watchdog attaches to the main
 * thread's inspector (no port, no native addon), pauses it, reads the stack
 * and resumes it at once.
 *
 * On Linux no ping is sent while the main thread sleeps in the kernel (an
 * idle loop waiting in epoll): an idle process is never woken by the watchdog.
 *
 * Between checks the thread sleeps in Atomics.wait (a futex with a timeout),
 * not on a libuv timer: a timer turn of a worker's event loop cost about
 * twice the CPU of the futex wake-up (measured in the docs), and the
 * watchdog wakes up to 50 times a second. The event loop gets a turn at
 * least every YIELD_MS, for the inspector's messages and a 'stop', and
 * whenever a stack is taken.
 *
 * It sleeps on the heartbeat's STOP slot, so that the main thread can wake
 * it when the process exits: a session connected to the main thread makes
 * Node print "Waiting for the debugger to disconnect..." on the app's stderr
 * at exit. The watchdog closes its session first and says so in DETACHED.
 */
import { openSync, readSync } from 'node:fs';
import type { Session } from 'node:inspector';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import {
  HB_ANSWERED,
  HB_ANSWERED_AT,
  HB_DETACHED,
  HB_FLOAT64_OFFSET,
  HB_INT32_SLOTS,
  HB_SENT,
  HB_SENT_AT,
  HB_STOP,
  type CaptureMessage,
  type WatchdogData,
} from './watchdog-protocol';

const data = workerData as WatchdogData;
const seq = new Int32Array(data.heartbeat, 0, HB_INT32_SLOTS);
const times = new Float64Array(data.heartbeat, HB_FLOAT64_OFFSET, 2);
const pings = data.pings as MessagePort;
const captures = data.captures as MessagePort;

const now = () => performance.timeOrigin + performance.now();
const statPath = `/proc/self/task/${data.pid}/stat`;
let procfs = process.platform === 'linux';

/**
 * The file stays open and is read again from offset 0 each time: procfs makes
 * its text anew on every read. readFileSync on a procfs file (size 0) opens,
 * stats, allocates a 64 KiB buffer, reads and closes, 50 times a second when
 * the threshold is 40 ms: most of the watchdog's idle CPU. Node closes the
 * descriptor when the thread ends (checked: worker.terminate() on 22 and 24).
 */
let statFd = -1;
const statBuf = Buffer.alloc(512);

/** The main thread is asleep in the kernel (S): idle in epoll, or in a sleeping syscall. */
function mainAsleep(): boolean {
  if (!procfs) return false;
  try {
    if (statFd < 0) statFd = openSync(statPath, 'r');
    const n = readSync(statFd, statBuf, 0, statBuf.length, 0);
    // The state follows the last ')': the command name before it may hold any character.
    const close = statBuf.lastIndexOf(0x29, n - 1);
    return close > 0 && close + 2 < n && statBuf[close + 2] === 0x53;
  } catch {
    procfs = false;
    return false;
  }
}

/**
 * Under load the main thread is found awake at every check, and the procfs
 * read was about 30 % of a check's CPU there (a cold syscall right after
 * the wake-up). Once BUSY_READS reads in a row found it awake, the file is
 * read at every READ_EVERY-th check only; a main thread that went idle
 * meanwhile gets at most READ_EVERY - 1 pings (each wakes it once) before a
 * read sees it asleep. An idle process, awake only for its own short timer
 * turns, never reaches BUSY_READS and is read at every check, as before.
 */
const BUSY_READS = 4;
const READ_EVERY = 4;
let awakeReads = 0;
let unreadChecks = 0;

/** The main thread is asleep in the kernel, read from procfs at most as often as said above. */
function mainIdle(): boolean {
  if (awakeReads >= BUSY_READS && unreadChecks < READ_EVERY - 1) {
    unreadChecks++;
    return false;
  }
  unreadChecks = 0;
  if (mainAsleep()) {
    awakeReads = 0;
    return true;
  }
  awakeReads++;
  return false;
}

let sent = 0;
let sentAt = 0;
let capturedFor = -1;
const recent: number[] = [];
let session: Session | undefined;
/** scriptId -> url: a paused frame names its script by id only (its own url field is deprecated and empty). */
const scripts = new Map<string, string>();

function post(method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    session!.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

interface PausedFrame {
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
}

async function capture(ping: number, stalledSince: number): Promise<void> {
  const at = now();
  while (recent.length > 0 && at - recent[0] > 60_000) recent.shift();
  if (recent.length >= data.maxPerMinute) {
    captures.postMessage({
      type: 'skipped',
      at,
      stalledSince,
      reason: `more than ${data.maxPerMinute} stacks this minute`,
    } satisfies CaptureMessage);
    return;
  }
  recent.push(at);
  const s = session;
  if (!s) {
    captures.postMessage({
      type: 'failed',
      at,
      stalledSince,
      reason: 'the inspector session is not ready',
    } satisfies CaptureMessage);
    return;
  }
  const paused = new Promise<PausedFrame[]>((resolve) => {
    s.once('Debugger.paused', (m) => resolve((m.params as { callFrames: PausedFrame[] }).callFrames));
  });
  const requested = now();
  try {
    // Reaches the main thread at its next JavaScript safepoint: at once in a
    // JavaScript loop, only after native code (a sync crypto call) returns.
    const pausing = post('Debugger.pause');
    const frames = await paused;
    const pausedAt = now();
    // Native code ran to its end and the loop turned before JavaScript could be paused: the frames are of later work.
    const turned = Atomics.load(seq, HB_ANSWERED) >= ping;
    await post('Debugger.resume');
    const resumedAt = now();
    await pausing;
    captures.postMessage({
      type: 'stack',
      at: pausedAt,
      stalledSince,
      requestedAt: requested,
      pausedAt,
      resumedAt,
      turned,
      frames: frames.map((f) => ({
        function: f.functionName,
        url: f.url || scripts.get(f.location.scriptId) || '',
        line: f.location.lineNumber + 1,
        column: f.location.columnNumber + 1,
      })),
    } satisfies CaptureMessage);
  } catch (err) {
    captures.postMessage({
      type: 'failed',
      at: now(),
      stalledSince,
      reason: String((err as Error)?.message ?? err),
    } satisfies CaptureMessage);
  }
}

/**
 * Enabling the debugger makes the main thread describe every script it has
 * loaded: tens of ms, once. Done at start, in a turn of its own, and reported
 * as titan-perf's own time; done on demand, it would lengthen each stall by as much.
 */
async function connect(): Promise<void> {
  const inspector = require('node:inspector') as typeof import('node:inspector');
  const s = new inspector.Session();
  s.connectToMainThread();
  session = s;
  s.on('Debugger.scriptParsed', (m) => {
    const p = m.params as { scriptId: string; url: string };
    if (p.url) scripts.set(p.scriptId, p.url);
  });
  // While the main thread is idle, so that the time measured is the enable's alone.
  for (let i = 0; i < 100 && procfs && !mainAsleep(); i++) await new Promise((r) => setTimeout(r, 20));
  const start = now();
  await post('Debugger.enable');
  captures.postMessage({ type: 'self', at: now(), start, end: now() } satisfies CaptureMessage);
}

/** The longest the thread stays in its own loop before its event loop gets a turn. */
const YIELD_MS = 1000;
/** The process is exiting: close the inspector session before Node looks for open ones. */
function detach(): void {
  try {
    session?.disconnect();
  } catch {
    // Already gone: nothing is left to close.
  }
  session = undefined;
  Atomics.store(seq, HB_DETACHED, 1);
  Atomics.notify(seq, HB_DETACHED);
}

/** One check; the ping (and since when the main thread has not turned) when its stack is due. */
function check(): { ping: number; since: number } | undefined {
  const answered = Atomics.load(seq, HB_ANSWERED);
  const t = now();
  if (sent > answered) {
    if (t - sentAt >= data.thresholdMs && capturedFor !== sent) {
      capturedFor = sent;
      // Since when the main thread has not turned: the ping went out no later than this.
      return { ping: sent, since: Math.max(times[HB_ANSWERED_AT], sentAt - data.periodMs) };
    }
    return undefined;
  }
  if (mainIdle()) return undefined;
  sent = answered + 1;
  sentAt = t;
  times[HB_SENT_AT] = t;
  Atomics.store(seq, HB_SENT, sent);
  pings.postMessage(sent);
  return undefined;
}

async function watch(): Promise<void> {
  for (;;) {
    const until = now() + YIELD_MS;
    while (now() < until) {
      Atomics.wait(seq, HB_STOP, 0, data.periodMs);
      if (Atomics.load(seq, HB_STOP) !== 0) return detach();
      const due = check();
      // The capture needs the event loop: the inspector's replies arrive on it.
      if (due) await capture(due.ping, due.since);
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

connect().then(
  () => watch(),
  (err) =>
    captures.postMessage({
      type: 'unavailable',
      at: now(),
      reason: String((err as Error)?.message ?? err),
    } satisfies CaptureMessage),
);
parentPort?.on('message', (m) => {
  if (m === 'stop') process.exit(0);
});
