/** V8 heap and process memory: v8.getHeapStatistics / getHeapSpaceStatistics and process.memoryUsage. */
import type { HeapReading } from './runtime-readings';

export class HeapProbe {
  private on = false;

  enable(): void {
    this.on = true;
  }

  disable(): void {
    this.on = false;
  }

  get enabled(): boolean {
    return this.on;
  }

  read(): HeapReading {
    // Loaded on first read, not at import: keeps node:v8 off the preload's start-up path.
    const { getHeapSpaceStatistics, getHeapStatistics } = require('node:v8') as typeof import('node:v8');
    const stats = getHeapStatistics();
    const mem = process.memoryUsage();
    return {
      used: stats.used_heap_size,
      total: stats.total_heap_size,
      limit: stats.heap_size_limit,
      spaces: getHeapSpaceStatistics().map((s) => ({
        space: s.space_name,
        size: s.space_size,
        used: s.space_used_size,
        available: s.space_available_size,
        physical: s.physical_space_size,
      })),
      rss: mem.rss,
      external: mem.external,
    };
  }
}
