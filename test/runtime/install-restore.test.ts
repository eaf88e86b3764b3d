/**
 * Install and roll back, as the programmatic API needs it: a RuntimeAgent
 * started by the library tunes fetch and the http agents, stop() puts Node's
 * originals back and keeps what the app replaced since. In a child process
 * so the test runner's own globals stay untouched.
 */
import { describe, expect, it } from 'vitest';
import { fixture, jsonLines, runNode } from '../preload/run';

describe(`RuntimeAgent install and restore (Node ${process.version})`, () => {
  it('stop() restores the dispatcher and agents it owns, and keeps the app replacements', async () => {
    const r = await runNode([fixture('install-restore.cjs')]);
    expect(r.code, r.stderr).toBe(0);
    expect(jsonLines(r.stdout)[0]).toEqual({
      fetchWrappedWhileArmed: true,
      fetchPutBackAfterFirstCall: true,
      tunedIsAgentFetchUses: true,
      tuned: ['fetch', 'http.globalAgent', 'https.globalAgent'],
      httpMaxSockets: 3,
      httpsMaxSockets: 3,
      replacedReported: 'replaced',
      dispatcherRestored: true,
      restoredDispatcherWorks: 'TypeError',
      httpRestored: true,
      httpsKeptAppsOwn: true,
      fetchAfterStop: true,
    });
  });
});
