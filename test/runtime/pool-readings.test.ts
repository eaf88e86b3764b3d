/** Per-origin pool readings stay bounded: 20 origins, the rest folded into `_other` (counts kept). */
import { describe, expect, it } from 'vitest';
import { fixture, jsonLines, PRELOAD, runNode } from '../preload/run';

describe(`fetch pool readings (Node ${process.version})`, () => {
  it('25 origins: 20 readings plus one _other holding the other 5', async () => {
    const r = await runNode(['--require', PRELOAD, fixture('many-origins.cjs')]);
    expect(r.code, r.stderr).toBe(0);
    const out = jsonLines(r.stdout)[0] as {
      ok: number;
      origins: number;
      last: { origin: string; connected: number };
      connectedTotal: number;
    };
    expect(out.ok).toBe(25);
    expect(out.origins).toBe(21);
    expect(out.last.origin).toBe('_other');
    expect(out.last.connected).toBe(5);
    expect(out.connectedTotal).toBe(25);
  });
});
