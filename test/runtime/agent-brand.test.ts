/**
 * `instanceof RuntimeAgent` holds for an agent made by any copy of
 * titan-perf in the process (the preload's one-file entry, the zero-install
 * bundle, the package the app imports): test/preload/host.test.ts and
 * bundle.test.ts check it across real copies. Here: what the brand check
 * accepts, and that subclasses keep the ordinary prototype test.
 */
import { describe, expect, it } from 'vitest';
import { RuntimeAgent } from '../../src/runtime/agent';

class TracedAgent extends RuntimeAgent {}

describe('RuntimeAgent instanceof', () => {
  it('holds for agents and for objects of another copy of the class, not for anything else', () => {
    expect(new RuntimeAgent()).toBeInstanceOf(RuntimeAgent);
    const otherCopy = Object.create(
      Object.defineProperty({}, Symbol.for('titan-perf.runtime-agent'), { value: true }),
    ) as unknown;
    expect(otherCopy instanceof RuntimeAgent).toBe(true);
    for (const v of [{}, null, undefined, 1, 'agent', () => {}]) expect(v instanceof RuntimeAgent).toBe(false);
  });

  it('a subclass keeps the prototype test', () => {
    expect(new TracedAgent()).toBeInstanceOf(RuntimeAgent);
    expect(new TracedAgent()).toBeInstanceOf(TracedAgent);
    expect(new RuntimeAgent() instanceof TracedAgent).toBe(false);
  });
});
