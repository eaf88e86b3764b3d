/** V8 heap and process memory: v8.getHeapStatistics / getHeapSpaceStatistics and process.memoryUsage. */
import type { OldGenerationLimit } from './old-generation';
import type { HeapReading } from './runtime-readings';

export class HeapProbe {
  private on = false;
  private oldLimit: OldGenerationLimit | undefined;

  enable(): void {
    this.on = true;
  }

  disable(): void {
    this.on = false;
  }

  get enabled(): boolean {
    return this.on;
  }

  /** The old generation's limit; the flags cannot change after start, so it is worked out once. */
  oldGenerationLimit(heapLimit: number): OldGenerationLimit {
    if (!this.oldLimit) {
      const { effectiveHeapFlags } = require('./heap-flags') as typeof import('./heap-flags');
      const { oldGenerationLimit } = require('./old-generation') as typeof import('./old-generation');
      this.oldLimit = oldGenerationLimit(
        heapLimit,
        effectiveHeapFlags(process.env.NODE_OPTIONS ?? '', process.execArgv),
      );
    }
    return this.oldLimit;
  }

  read(): HeapReading {
    // Loaded on first read, not at import: keeps node:v8 off the preload's start-up path.
    const { getHeapSpaceStatistics, getHeapStatistics } = require('node:v8') as typeof import('node:v8');
    const { oldGenerationUsed } = require('./old-generation') as typeof import('./old-generation');
    const stats = getHeapStatistics();
    const mem = process.memoryUsage();
    const spaces = getHeapSpaceStatistics().map((s) => ({
      space: s.space_name,
      size: s.space_size,
      used: s.space_used_size,
      available: s.space_available_size,
      physical: s.physical_space_size,
    }));
    return {
      used: stats.used_heap_size,
      total: stats.total_heap_size,
      limit: stats.heap_size_limit,
      oldGeneration: { used: oldGenerationUsed(spaces), limit: this.oldGenerationLimit(stats.heap_size_limit).bytes },
      spaces,
      rss: mem.rss,
      external: mem.external,
    };
  }
}
