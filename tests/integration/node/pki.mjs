// A scratch PKI for TLS tests, made with the openssl command line: a CA and
// a server certificate it signed for 127.0.0.1 (EC P-256).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function makePki() {
  const dir = mkdtempSync(join(tmpdir(), 'herald-pki-'));
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
  ssl('req', '-x509', '-new', '-key', 'ca.key', '-days', '2', '-subj', '/CN=herald-test-ca',
    '-out', 'ca.pem');
  ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key');
  ssl('req', '-new', '-key', 'server.key', '-subj', '/CN=127.0.0.1', '-out', 'server.csr');
  writeFileSync(join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-CAcreateserial', '-days', '2', '-extfile', 'server.ext', '-out', 'server.pem');
  return {
    dir,
    path: (name) => join(dir, name),
    ca: readFileSync(join(dir, 'ca.pem')),
    // heraldd's [tls] section serving this certificate on a free port.
    tlsConfig: (extra = '') => `[tls]\nlisten = "127.0.0.1:0"\n` +
      `cert_file = "${join(dir, 'server.pem')}"\nkey_file = "${join(dir, 'server.key')}"\n${extra}`,
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
