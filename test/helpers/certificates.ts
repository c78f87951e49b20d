/**
 * A private PKI for TLS tests, made with the `openssl` CLI in a temp dir: a CA,
 * a server certificate for 127.0.0.1/localhost, one for another host name,
 * and a client certificate, all signed by that CA, plus a second, unrelated CA. EC P-256 keys (fast),
 * unencrypted PKCS#8, valid two days.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TlsOptions } from 'node:tls';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  /** Paths of the PEM files. */
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  otherCaFile: string;
  /** PEM contents, for servers. */
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Signed by the CA for `other.example` only: wrong for 127.0.0.1. */
  otherHostCert: string;
  otherHostKey: string;
  clientKey: string;
  remove(): void;
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'opencti-webhook-pki-'));
  const path = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ca = (name: string, cn: string): void =>
    openssl('req', '-x509', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const leaf = (name: string, cn: string, extensions: string): void => {
    writeFileSync(path(`${name}.ext`), extensions);
    openssl('req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2',
      '-extfile', `${name}.ext`);
  };
  try {
    ca('ca', 'opencti-webhook test CA');
    ca('other-ca', 'unrelated test CA');
    leaf('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    leaf('other-host', 'other.example', 'subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n');
    leaf('client', 'dispatcher-client', 'extendedKeyUsage=clientAuth\n');
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl failed: ${(error as Error).message}\n${stderr}`, { cause: error });
  }
  const read = (name: string): string => readFileSync(path(name), 'utf8');
  return {
    dir,
    caFile: path('ca.pem'),
    serverCertFile: path('server.pem'),
    serverKeyFile: path('server.key'),
    clientCertFile: path('client.pem'),
    clientKeyFile: path('client.key'),
    otherCaFile: path('other-ca.pem'),
    ca: read('ca.pem'),
    serverCert: read('server.pem'),
    serverKey: read('server.key'),
    otherHostCert: read('other-host.pem'),
    otherHostKey: read('other-host.key'),
    clientKey: read('client.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A TLS server on loopback presenting the test PKI's server certificate; it closes every connection after the handshake. */
export async function startTlsServer(pki: TestPki, options: TlsOptions = {}): Promise<{ server: TlsServer; port: number }> {
  const server = createTlsServer({ key: pki.serverKey, cert: pki.serverCert, ...options }, (socket) => socket.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}
