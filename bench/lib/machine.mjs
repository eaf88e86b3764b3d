// What the numbers were measured on: printed at start and recorded with the
// results, because a ratio from a loaded 2-core VM means something else than
// one from an idle workstation.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

function cgroupCpuMax() {
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    return quota === 'max' ? null : Number(quota) / Number(period);
  } catch {
    return null;
  }
}

export function describeMachine(nodeBin) {
  const cpus = os.cpus();
  let nodeVersion = process.version;
  if (nodeBin && nodeBin !== process.execPath) {
    nodeVersion = execFileSync(nodeBin, ['-p', 'process.version'], { encoding: 'utf8' }).trim();
  }
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    cgroupCpuLimit: cgroupCpuMax(),
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    arch: process.arch,
    loadAverageAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
    node: { version: nodeVersion, bin: nodeBin ?? process.execPath },
    harnessNode: process.version,
  };
}

export function machineLine(m) {
  const gib = (m.memoryBytes / 2 ** 30).toFixed(1);
  return `${m.cpuModel}, ${m.cores} cores, ${gib} GiB, ${m.kernel}, Node ${m.node.version}, load average ${m.loadAverageAtStart.join(' ')}`;
}
