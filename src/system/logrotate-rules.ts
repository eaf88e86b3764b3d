/**
 * logrotate reports some refusals only as `error:` lines while exiting 0
 * (a group/world-writable config is ignored, a log directory writable by a
 * non-root user is skipped). These turn them into messages that say what to do.
 */
export function explainLogrotateErrors(stderr: string): string[] {
  const out: string[] = [];
  for (const line of stderr.split('\n')) {
    if (!/^error:/i.test(line)) continue;
    if (/writable by group or others|bad file mode/i.test(line)) {
      out.push(
        `${line.trim()} -> logrotate running as root ignores a config that is not mode 0644/0444; titan-perf writes its config 0644 root-owned, so something changed it`,
      );
    } else if (/owner is wrong/i.test(line)) {
      out.push(`${line.trim()} -> the config must be owned by root (or the user running logrotate)`);
    } else if (/parent directory has insecure permissions/i.test(line)) {
      out.push(
        `${line.trim()} -> the log directory is writable by a non-root user: set system.logRotation.su to that 'user group' (or make the directory root-owned, not group/world-writable)`,
      );
    } else {
      out.push(line.trim());
    }
  }
  return out;
}
