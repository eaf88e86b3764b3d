/**
 * Whether this is the main thread, without loading `worker_threads` (~4 ms of
 * start-up when nothing loaded it yet). A worker's bootstrap always loads
 * `internal/process/worker_thread_only`; the main thread's never does.
 */
export function isMainThread(): boolean {
  const loaded = (process as NodeJS.Process & { moduleLoadList?: string[] }).moduleLoadList;
  if (!loaded || loaded.includes('NativeModule worker_threads')) {
    return (require('node:worker_threads') as typeof import('node:worker_threads')).isMainThread;
  }
  return !loaded.includes('NativeModule internal/process/worker_thread_only');
}
