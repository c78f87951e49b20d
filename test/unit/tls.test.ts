import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { connect, rootCertificates, type ConnectionOptions, type Server, type TLSSocket } from 'node:tls';
import { tlsConnectionOptions } from '../../shared/net/tls.js';
import { createTestPki, startTlsServer, type TestPki } from '../helpers/certificates.js';

let pki: TestPki;
let server: Server;
let port: number;
before(async () => {
  pki = createTestPki();
  ({ server, port } = await startTlsServer(pki, { ca: pki.ca, requestCert: true, rejectUnauthorized: false }));
});
after(() => {
  server?.close();
  pki?.remove();
});

/** The handshake's outcome with `options`: 'ok' or the error code. */
async function handshake(options: ConnectionOptions): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port, ...options });
  const outcome = await new Promise<string>((resolve) => {
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    socket.once('secureConnect', () => resolve('ok'));
  });
  socket.destroy();
  return outcome;
}

describe('tlsConnectionOptions', () => {
  it('verifies with the system roots alone when no CA file is given', async () => {
    assert.deepEqual(tlsConnectionOptions({ verify: true }), { rejectUnauthorized: true });
    assert.match(await handshake(tlsConnectionOptions({ verify: true })), /^(?:SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/);
  });

  it('adds CA files to the system roots, never in their place', async () => {
    const options = tlsConnectionOptions({ verify: true, caFiles: [pki.caFile, pki.otherCaFile] });
    const ca = options.ca as string[];
    assert.equal(ca.length, rootCertificates.length + 2);
    assert.deepEqual(ca.slice(0, rootCertificates.length), [...rootCertificates]);
    assert.deepEqual(ca.slice(rootCertificates.length), [pki.ca, readFileSync(pki.otherCaFile, 'utf8')]);
    assert.equal(await handshake(options), 'ok');
  });

  it('turns verification off, reading no CA file', async () => {
    const options = tlsConnectionOptions({ verify: false, caFiles: ['/no/such/ca.pem'] });
    assert.deepEqual(options, { rejectUnauthorized: false });
    assert.equal(await handshake(options), 'ok');
  });

  it('presents the client certificate only when both files are given', async () => {
    /** The common name of the client certificate the server saw. */
    const presented = async (options: ConnectionOptions): Promise<string | undefined> => {
      const accepted = once(server, 'secureConnection', { signal: AbortSignal.timeout(5_000) }) as Promise<[TLSSocket]>;
      const client = connect({ host: '127.0.0.1', port, ...options });
      try {
        const [socket] = await accepted;
        const commonName = socket.getPeerCertificate().subject?.CN;
        return typeof commonName === 'string' ? commonName : undefined;
      } finally {
        client.destroy();
      }
    };
    const withCert = tlsConnectionOptions({ verify: true, caFiles: [pki.caFile], clientCertFile: pki.clientCertFile, clientKeyFile: pki.clientKeyFile });
    assert.equal(withCert.key, pki.clientKey);
    assert.equal(await presented(withCert), 'dispatcher-client');
    const halfConfigured = tlsConnectionOptions({ verify: true, caFiles: [pki.caFile], clientCertFile: pki.clientCertFile });
    assert.equal(halfConfigured.cert, undefined);
    assert.equal(await presented(halfConfigured), undefined);
  });
});
