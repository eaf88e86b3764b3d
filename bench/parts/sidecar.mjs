// The sidecar: time of plan, apply, verify (and rollback) for the default
// plan against a fake procfs root, without Redis and with a real Redis, in
// process and as the CLI a user runs; then the idle daemon's RSS and CPU.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { makeComparison } from '../lib/comparison.mjs';
import { interleave } from '../lib/interleave.mjs';
import { runCollect, sleep, startFixture, stop, timedRun } from '../lib/proc.mjs';
import { procUsage } from '../lib/procfs.mjs';
import { startRedis } from '../lib/redis.mjs';
import { median, round } from '../lib/stats.mjs';
import { FIXTURES, LIBRARY, SIDECAR, cleanEnv, hasSidecar } from '../lib/subject.mjs';

export const id = 'sidecar';
export const title = 'The sidecar: plan, apply, verify and the idle daemon';

/**
 * A procfs-shaped tree holding, for every catalogued sysctl, a value the
 * default plan has to change (as on a stock kernel), so apply really writes.
 */
function fakeProcRoot(dir) {
  const { SYSCTL_CATALOGUE } = createRequire(import.meta.url)(join(dirname(LIBRARY), 'config', 'sysctl-catalogue.js'));
  const values = { 'net.ipv4.tcp_available_congestion_control': 'reno cubic bbr' };
  for (const s of SYSCTL_CATALOGUE) {
    if (s.type === 'enum') values[s.key] = s.values.find((v) => v !== s.default) ?? s.values[0];
    else if (s.type === 'ints') values[s.key] = Array.from({ length: s.count }, (_, i) => s.min + i).join('\t');
    else values[s.key] = String(s.default === s.min ? s.min + 1 : s.min);
  }
  for (const [key, value] of Object.entries(values)) {
    const path = join(dir, 'sys', ...key.split('.'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${value}\n`);
  }
  return dir;
}

async function idleDaemon({ nodeBin, configFile, procRoot, stateDir, seconds, intervalMs, progress }) {
  const args = [
    SIDECAR,
    'run',
    '--config',
    configFile,
    '--proc-root',
    procRoot,
    '--state-dir',
    stateDir,
    '--listen',
    '127.0.0.1:0',
    '--interval',
    String(intervalMs),
  ];
  const { child } = await startFixture(nodeBin, args, {
    env: cleanEnv(),
    ready: (l) => l.event === 'initial-apply' || l.event === 'verify',
  });
  try {
    await sleep(1000);
    const first = procUsage(child.pid);
    const t0 = Date.now();
    const rss = [first.rssMiB];
    while (Date.now() - t0 < seconds * 1000) {
      await sleep(1000);
      rss.push(procUsage(child.pid).rssMiB);
    }
    const last = procUsage(child.pid);
    const cpuPercent = ((last.cpuMs - first.cpuMs) / (Date.now() - t0)) * 100;
    progress(
      `[${id}] idle daemon: RSS ${round(median(rss))} MiB, CPU ${round(cpuPercent)}% of a core over ${seconds} s`,
    );
    return { rssMiB: rss, cpuPercent };
  } finally {
    await stop(child);
  }
}

export async function run({ quick, nodeBin, progress, tmp }) {
  if (!hasSidecar())
    return {
      status: 'not measured',
      notes: [`${SIDECAR} does not exist yet (the sidecar has not landed).`],
      comparisons: [],
      tables: [],
    };
  const rounds = quick ? 1 : 8;
  const idleSeconds = quick ? 3 : 20;
  const daemonIntervalMs = 10_000;
  const parameters = { rounds, idleSeconds, daemonVerifyIntervalMs: daemonIntervalMs };
  const logs = join(tmp, 'sidecar-logs');
  mkdirSync(logs, { recursive: true });
  writeFileSync(join(logs, 'app.log'), 'x\n');
  const system = { allowNodeScope: true, logRotation: { paths: [join(logs, '*.log')] } };
  const redis = await startRedis();
  const notes = [];
  try {
    const modes = {
      'no-redis': { system, redis: { enabled: false } },
      redis: { system, redis: { enabled: true, host: '127.0.0.1', port: redis.port } },
    };
    const setup = {};
    for (const [mode, config] of Object.entries(modes)) {
      const dir = join(tmp, `sidecar-${mode}`);
      const procRoot = fakeProcRoot(join(dir, 'proc'));
      const stateDir = join(dir, 'state');
      mkdirSync(stateDir, { recursive: true });
      const configFile = join(dir, 'config.json');
      writeFileSync(configFile, JSON.stringify(config));
      setup[mode] = { config, procRoot, stateDir, configFile };
    }
    const engineVariants = [
      { id: 'no-redis', label: 'sysctl + logrotate (no Redis)' },
      { id: 'redis', label: 'sysctl + logrotate + real Redis' },
    ];
    const shapes = {};
    const inProcess = await interleave({
      label: `${id}/engine`,
      variants: engineVariants,
      rounds,
      progress,
      measure: async (v) => {
        const s = setup[v.id];
        const env = cleanEnv({
          BENCH_LIBRARY: LIBRARY,
          BENCH_SIDECAR: JSON.stringify({ config: s.config, procRoot: s.procRoot, stateDir: s.stateDir }),
        });
        const { stdout } = await runCollect(nodeBin, [join(FIXTURES, 'sidecar-cycle.cjs')], { env });
        const r = JSON.parse(stdout.trim().split('\n').pop());
        if (!r.applyOk || !r.inSync || !r.rollbackOk)
          throw new Error(`sidecar cycle (${v.id}) did not succeed: ${stdout}`);
        shapes[v.id] = { settings: r.settings, byStore: r.byStore, changes: r.changes };
        return { applyMs: r.applyMs, planMs: r.planMs, verifyMs: r.verifyMs, rollbackMs: r.rollbackMs };
      },
    });

    const cliSteps = [
      ['plan', [0, 2]],
      ['apply', [0]],
      ['verify', [0]],
      ['rollback', [0]],
    ];
    const cli = await interleave({
      label: `${id}/cli`,
      variants: engineVariants,
      rounds,
      progress,
      measure: async (v) => {
        const s = setup[v.id];
        const out = {};
        for (const [step, okCodes] of cliSteps) {
          const r = timedRun(
            nodeBin,
            [SIDECAR, step, '--config', s.configFile, '--proc-root', s.procRoot, '--state-dir', s.stateDir],
            { env: cleanEnv(), okCodes },
          );
          out[`${step}Ms`] = r.ms;
          if (step === 'apply') out.rssMiB = r.rssMiB;
        }
        return out;
      },
    });

    const idle = await idleDaemon({
      nodeBin,
      configFile: setup['no-redis'].configFile,
      procRoot: setup['no-redis'].procRoot,
      stateDir: setup['no-redis'].stateDir,
      seconds: idleSeconds,
      intervalMs: daemonIntervalMs,
      progress,
    });

    const stepVariants = ['plan', 'apply', 'verify', 'rollback'].map((step) => ({ id: step, label: step }));
    const perStep = (samples, mode) => Object.fromEntries(stepVariants.map((s) => [s.id, samples[`${s.id}Ms`][mode]]));
    const budget = (mode) =>
      mode === 'no-redis'
        ? [
            {
              variant: 'apply',
              kind: 'value-max',
              limit: 100,
              text: 'engine apply of the default plan < 100 ms without Redis round trips (median)',
            },
            {
              variant: 'verify',
              kind: 'value-max',
              limit: 100,
              text: 'engine verify < 100 ms without Redis round trips (median)',
            },
          ]
        : [];
    const comparisons = [];
    for (const mode of ['no-redis', 'redis']) {
      const label = engineVariants.find((v) => v.id === mode).label;
      comparisons.push(
        makeComparison({
          id: `engine-${mode}`,
          title: `Engine in process, ${label}`,
          unit: 'ms',
          baseline: null,
          lowerIsBetter: true,
          variants: stepVariants,
          samples: perStep(inProcess, mode),
          targets: budget(mode),
          note: 'Times of engine.plan(), apply(), verify() and rollback() through the library, in a fresh process per round (so they include first-call costs, as the CLI has them), excluding Node start-up.',
        }),
        makeComparison({
          id: `cli-${mode}`,
          title: `CLI wall time, ${label}`,
          unit: 'ms',
          baseline: null,
          lowerIsBetter: true,
          variants: stepVariants,
          samples: perStep(cli, mode),
          note: 'titan-perf-sidecar as a user runs it: the whole process including Node start-up and config validation.',
        }),
      );
    }
    comparisons.push(
      makeComparison({
        id: 'daemon-rss',
        title: 'Idle daemon RSS',
        unit: 'MiB',
        baseline: null,
        lowerIsBetter: true,
        variants: [{ id: 'daemon', label: 'titan-perf-sidecar run' }],
        samples: { daemon: idle.rssMiB },
        targets: [{ variant: 'daemon', kind: 'max-max', limit: 60, text: 'idle daemon < 60 MiB RSS (worst sample)' }],
        note: `VmRSS sampled every second over ${idleSeconds} s after the initial apply, verify every ${daemonIntervalMs / 1000} s.`,
      }),
      makeComparison({
        id: 'daemon-cpu',
        title: 'Idle daemon CPU',
        unit: '% of a core',
        baseline: null,
        lowerIsBetter: true,
        variants: [{ id: 'daemon', label: 'titan-perf-sidecar run' }],
        samples: { daemon: [idle.cpuPercent] },
        targets: [{ variant: 'daemon', kind: 'value-max', limit: 0.5, text: 'idle daemon < 0.5% of a core' }],
        note: `utime + stime from /proc/PID/stat over ${idleSeconds} s.`,
      }),
    );
    const plan = shapes.redis ?? shapes['no-redis'];
    notes.push(
      `The default plan here: ${
        plan
          ? `${plan.settings} settings (${Object.entries(plan.byStore)
              .map(([k, n]) => `${k} ${n}`)
              .join(', ')}), ${plan.changes} to change`
          : 'unknown'
      }; sysctls against a fake procfs root filled with stock-kernel-like values (allowNodeScope on, so node-wide keys count too), one logrotate config for a temp log dir, Redis a real redis-server on loopback.`,
      'Every round ends with a rollback, so each apply changes the full set again.',
    );
    return { status: 'measured', parameters, notes, comparisons, tables: [] };
  } finally {
    await redis.stop();
  }
}
