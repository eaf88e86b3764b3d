// Starts the stand-in OTLP receiver for the variants that export.
import { join } from 'node:path';
import { startFixture } from './proc.mjs';
import { FIXTURES, cleanEnv } from './subject.mjs';

export async function startOtlpReceiver(nodeBin) {
  const { child, info } = await startFixture(nodeBin, [join(FIXTURES, 'otlp-receiver.cjs')], { env: cleanEnv() });
  const endpoint = `http://127.0.0.1:${info.port}`;
  return {
    child,
    endpoint,
    port: info.port,
    /** Exports received so far. */
    async exports() {
      const res = await fetch(`${endpoint}/stats`);
      return (await res.json()).exports;
    },
  };
}
