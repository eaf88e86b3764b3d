// Readings of a child process from /proc: CPU time and memory, for costs that
// hold up better on a shared machine than wall-clock throughput does.
import { readFileSync } from 'node:fs';

// Linux reports CPU time in USER_HZ ticks, 100 per second on every mainstream architecture.
const TICK_MS = 10;

/** CPU time (user + system) so far, ms, and resident and peak resident memory, MiB. */
export function procUsage(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => {
    const m = new RegExp(`${name}:\\s+(\\d+) kB`).exec(status);
    return m ? Number(m[1]) / 1024 : NaN;
  };
  return { cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS, rssMiB: kib('VmRSS'), peakRssMiB: kib('VmHWM') };
}
