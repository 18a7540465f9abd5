/**
 * A certificate authority made at test time, with a server certificate for localhost / 127.0.0.1
 * and a client certificate for mTLS, written as PEM files by the openssl CLI. Nothing of it is
 * kept: each run makes its own, valid for a day.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A P-256 key and a certificate for `subject` signed by the test CA, with the extensions in `extensions`. */
function issue(dir: string, name: string, subject: string, extensions: string): { cert: string; key: string } {
  const [key, csr, cert, ext] = ['key', 'csr', 'pem', 'ext'].map((suffix) => join(dir, `${name}.${suffix}`));
  writeFileSync(ext, extensions);
  // prettier-ignore
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
  // prettier-ignore
  openssl(['x509', '-req', '-in', csr, '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '1', '-out', cert, '-extfile', ext]);
  return { cert, key };
}

export function makeTestCertificates(dir: string): TestCertificates {
  const caCert = join(dir, 'ca.pem');
  // prettier-ignore
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'ca.key'), '-out', caCert, '-days', '1', '-subj', '/CN=license-fulfillment test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  // The server's certificate is also the one its own system worker presents to its frontend
  // (tls.systemWorker in tls-temporal-server.ts), hence clientAuth besides serverAuth.
  const server = issue(
    dir,
    'server',
    '/CN=localhost',
    'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  const client = issue(dir, 'client', '/CN=license-fulfillment worker', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  return { caCert, serverCert: server.cert, serverKey: server.key, clientCert: client.cert, clientKey: client.key };
}
