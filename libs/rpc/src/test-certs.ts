/**
 * Test helper (not part of the library's API): a throwaway PKI made with the real `openssl`
 * CLI — a CA, a server and a client certificate for 127.0.0.1/localhost, and a foreign CA with
 * a certificate of its own (signed by nobody the services trust).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface TestPki {
  server: CertFiles;
  client: CertFiles;
  /** A certificate and its CA that the services do not trust. */
  foreign: CertFiles;
}

const ssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

function makeCa(dir: string, name: string): void {
  ssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`]);
}

function makeLeaf(dir: string, ca: string, name: string, serial: number): CertFiles {
  writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  ssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  ssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-set_serial', String(serial), '-days', '2',
    '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  return { ca: join(dir, `${ca}.crt`), cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** Make the PKI in `dir` (about a second of openssl). */
export function makeTestPki(dir: string): TestPki {
  makeCa(dir, 'conga-ca');
  makeCa(dir, 'foreign-ca');
  return {
    server: makeLeaf(dir, 'conga-ca', 'server', 1),
    client: makeLeaf(dir, 'conga-ca', 'client', 2),
    foreign: makeLeaf(dir, 'foreign-ca', 'intruder', 3),
  };
}
