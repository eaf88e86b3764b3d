// The sidecar half of `npm run demo`, on its embedded defaults and without
// touching the machine: first its plan for this machine (read-only, with a
// temporary state dir that is never even created), then, as root, a real apply,
// verify and rollback inside a network namespace made for the demo and always
// deleted (also on Ctrl-C or a failure). Node-wide keys are left out there
// since they are not per namespace, and log rotation points at a temp file
// (left out where logrotate is not installed).
//
// Redis: the embedded default is 127.0.0.1:6379. On the host the plan shows
// whether one answers (and why it is skipped if not). In the namespace a
// throw-away redis-server listens on that same default address, which is
// private to the namespace, so the defaults need no change and nothing on the
// host can be reached or collide; without the binary the Redis part is skipped
// with the reason.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand } from './system-setup.mjs';

const CLI_TIMEOUT_MS = 60_000;

/** Shows both parts; resolves to the exit code the demo should end with (0 unless a sidecar step failed). */
export async function showSidecar({ root, node }) {
  const cli = join(root, 'dist', 'sidecar', 'cli.js');
  const tmp = mkdtempSync(join(tmpdir(), 'titan-perf-demo-'));
  const cleanup = new Cleanup(tmp);
  try {
    console.log('\n=== the sidecar (titan-perf-sidecar) on its embedded defaults ===\n');
    const planState = join(tmp, 'plan-state');
    console.log('1. its plan for this machine, read-only: it reads the current values and writes nothing');
    console.log('   (the state dir it is given does not even get created). Exit 2 means changes are pending,');
    console.log(
      '   1 that a store could not be planned (usually: no Redis answers at 127.0.0.1:6379); the rest is shown.\n',
    );
    const plan = await runCli(node, cli, ['plan', '--state-dir', planState], { cleanup });
    const written = existsSync(planState) ? `WRITTEN: ${planState} exists` : 'nothing written';
    console.log(`   (exit ${plan.code}; ${written})\n`);
    const planned = plan.code === 0 || plan.code === 2 || (plan.code === 1 && /^\s*STORE\s+KEY\b/m.test(plan.text));
    if (!planned) return 1;

    const why = whyNoNamespace();
    if (why) {
      console.log(`2. apply, verify and rollback: not shown, ${why}.`);
      return 0;
    }
    return await inNamespace({ node, cli, tmp, cleanup, root });
  } finally {
    cleanup.run();
    if (cleanup.netns) console.log(`   namespace ${cleanup.netns} deleted, ${tmp} removed.`);
  }
}

function whyNoNamespace() {
  if (process.getuid?.() !== 0) {
    return 'since this runs as a normal user: they run in a network namespace of their own (ip netns add needs root)';
  }
  if (!hasCommand('ip')) {
    return 'since the `ip` command (iproute2) is not installed: the namespace is made with `ip netns add`';
  }
  return null;
}

async function inNamespace({ node, cli, tmp, cleanup, root }) {
  const ns = `titan-perf-demo-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    execFileSync('ip', ['netns', 'add', ns], { stdio: ['ignore', 'ignore', 'pipe'] });
    cleanup.netns = ns;
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    console.log(`2. apply, verify and rollback: not shown, since \`ip netns add\` fails here: ${firstLine(err)}`);
    return 0;
  }
  console.log(`2. apply, verify and rollback in the network namespace ${ns},`);
  console.log('   made for this demo and deleted at the end: the per-namespace sysctls change there only; node-wide');
  console.log('   keys (vm.*, fs.*, net.core.rmem_max, ...) are left out since they are not per namespace.');

  const { SYSCTL_CATALOGUE } = createRequire(import.meta.url)(
    join(root, 'dist', 'src', 'config', 'sysctl-catalogue.js'),
  );
  const nodeWide = SYSCTL_CATALOGUE.filter((s) => s.scope === 'node');
  const kernelParams = Object.fromEntries(nodeWide.map((s) => [s.param, null]));
  const config = { system: { kernelParams } };
  if (hasCommand('logrotate')) {
    const logs = join(tmp, 'logs');
    mkdirSync(logs);
    writeFileSync(join(logs, 'app.log'), 'a line of the service log\n');
    config.system.logRotation = { paths: [join(logs, '*.log')] };
    console.log(`   Log rotation: the real logrotate, configured for ${logs}/*.log.`);
  } else {
    console.log('   Log rotation: skipped, logrotate is not installed (apt-get install logrotate).');
  }
  const redis = await startRedis(ns, tmp, cleanup);
  if (redis.ready) {
    console.log('   Redis: a throw-away redis-server in the namespace, on the default 127.0.0.1:6379 (private to it).');
  } else {
    console.log(`   Redis: skipped, ${redis.why}.`);
    config.redis = { enabled: false };
  }
  const configFile = join(tmp, 'config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  console.log(`   config: ${configFile} (only these overrides; everything else is the embedded defaults)\n`);

  const state = join(tmp, 'state');
  const flags = ['--config', configFile, '--state-dir', state];
  const somaxconn = () => readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim();
  const inNs = (cmd) => execFileSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8' }).trim();
  const seen = [inNs(['cat', '/proc/sys/net/core/somaxconn'])];
  const hostBefore = somaxconn();

  // Rollback runs even after a failed apply or verify: the namespace goes anyway, but the demo shows the undo.
  let code = 0;
  for (const cmd of ['apply', 'verify', 'rollback']) {
    const r = await runCli(node, cli, [cmd, ...flags], { cleanup, netns: ns });
    if (r.code !== 0) {
      console.log(`   (${cmd} exited ${r.code})`);
      code = 1;
    }
    if (cmd !== 'verify') seen.push(inNs(['cat', '/proc/sys/net/core/somaxconn']));
  }
  console.log(`   net.core.somaxconn in the namespace: ${seen.join(' -> ')} (before, applied, rolled back);`);
  console.log(`   on the host: ${hostBefore} -> ${somaxconn()}`);
  return code;
}

/** A throw-away redis-server in the namespace; resolves once it accepts connections, or with why not. */
function startRedis(ns, tmp, cleanup) {
  if (!hasCommand('redis-server')) {
    return { ready: false, why: 'redis-server is not installed (apt-get install redis-server)' };
  }
  const dir = join(tmp, 'redis');
  mkdirSync(dir);
  const args = ['--port', '6379', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = spawn('ip', ['netns', 'exec', ns, 'redis-server', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.children.add(child);
  return new Promise((resolve) => {
    let out = '';
    const done = (result) => {
      clearTimeout(timer);
      resolve(result);
    };
    const last = () => out.trim().split('\n').pop();
    const slow = () => done({ ready: false, why: `redis-server did not accept connections within 10 s: ${last()}` });
    const timer = setTimeout(slow, 10_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) done({ ready: true });
    });
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => done({ ready: false, why: `redis-server exited (${code}): ${last()}` }));
  });
}

/** Runs one sidecar command (in the namespace when given), printing the command and its indented output. */
function runCli(node, cli, args, { cleanup, netns }) {
  console.log(`   $ ${netns ? 'ip netns exec <ns> ' : ''}titan-perf-sidecar ${args.join(' ')}`);
  const [cmd, argv] = netns ? ['ip', ['netns', 'exec', netns, node, cli, ...args]] : [node, [cli, ...args]];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.children.add(child);
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  child.stderr.on('data', (d) => (text += d));
  // A Redis that accepts but never answers must not hang the demo.
  const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      cleanup.children.delete(child);
      const body = text.trimEnd();
      if (body) console.log(body.replace(/^/gm, '     '));
      resolve({ code: code ?? (signal ? `killed by ${signal}` : null), text });
    });
  });
}

/** What the demo made, undone synchronously: so it also runs from a signal handler and from process exit. */
class Cleanup {
  constructor(tmp) {
    this.tmp = tmp;
    this.netns = null;
    this.children = new Set();
    this.done = false;
    this.onSignal = (sig) => {
      console.log(`\n${sig}: cleaning up (namespace, processes, temp files)`);
      this.run();
      process.exit(130);
    };
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
    this.onExit = () => this.run();
    process.once('exit', this.onExit);
  }

  run() {
    if (this.done) return;
    this.done = true;
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('exit', this.onExit);
    for (const child of this.children) child.kill('SIGKILL');
    if (this.netns) {
      // Processes still inside would keep the namespace alive after `ip netns del`.
      try {
        const pids = execFileSync('ip', ['netns', 'pids', this.netns], { encoding: 'utf8' })
          .split('\n')
          .filter(Boolean);
        for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
      } catch {
        // None left, or the namespace is already gone.
      }
      try {
        execFileSync('ip', ['netns', 'del', this.netns], { stdio: 'ignore' });
      } catch {
        // Already gone.
      }
    }
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

function firstLine(err) {
  return String(err.stderr || err.message)
    .trim()
    .split('\n')[0];
}
