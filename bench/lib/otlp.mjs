// Starts the stand-in OTLP receiver for the variants that export.
import { join } from 'node:path';
import { startFixture } from './proc.mjs';
import { FIXTURES, cleanEnv } from './subject.mjs';

export async function startOtlpReceiver(nodeBin) {
  const { child, info } = await startFixture(nodeBin, [join(FIXTURES, 'otlp-receiver.cjs')], { env: cleanEnv() });
  return { child, endpoint: `http://127.0.0.1:${info.port}`, port: info.port };
}
