// A throwaway self-signed certificate for the HTTPS origin, valid for
// localhost, 127.0.0.1 and ::1; clients trust it through NODE_EXTRA_CA_CERTS.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function makeCertificate(dir) {
  const key = join(dir, 'origin-key.pem');
  const cert = join(dir, 'origin-cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { key, cert };
}
