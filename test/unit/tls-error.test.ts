import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type Server } from 'node:tls';
import { classifyTlsFailure, type TlsFailureKind } from '../../shared/net/tls-error.js';
import { createTestPki, startTlsServer, type TestPki } from '../helpers/certificates.js';

const coded = (code: string, cause?: unknown): Error => Object.assign(new Error(code), { code }, cause === undefined ? {} : { cause });

describe('classifyTlsFailure', () => {
  it('names the meaning of each code an operator can act on', () => {
    const expected: Array<[string, TlsFailureKind, boolean]> = [
      ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'untrusted', true],
      ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'untrusted', true],
      ['SELF_SIGNED_CERT_IN_CHAIN', 'untrusted', true],
      ['DEPTH_ZERO_SELF_SIGNED_CERT', 'untrusted', true],
      ['CERT_HAS_EXPIRED', 'expired', true],
      ['CERT_NOT_YET_VALID', 'not-yet-valid', true],
      ['ERR_TLS_CERT_ALTNAME_INVALID', 'host-mismatch', true],
      ['HOSTNAME_MISMATCH', 'host-mismatch', true],
      ['CERT_REVOKED', 'revoked', true],
      ['CERT_SIGNATURE_FAILURE', 'other', true],
      ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'client-cert-required', false],
      ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'client-cert-refused', false],
      ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'client-cert-refused', false],
      ['ERR_SSL_WRONG_VERSION_NUMBER', 'not-tls', false],
      ['ERR_SSL_SOMETHING_NEW', 'other', false],
    ];
    for (const [code, kind, verification] of expected) assert.deepEqual(classifyTlsFailure(coded(code)), { code, kind, verification }, code);
  });

  it('is undefined for what is not TLS', () => {
    for (const error of [coded('ECONNREFUSED'), coded('UND_ERR_SOCKET'), new Error('CERT_HAS_EXPIRED'), undefined, 'CERT_HAS_EXPIRED']) {
      assert.equal(classifyTlsFailure(error), undefined, String(error));
    }
  });

  it('finds the code behind wrappers: cause chains and AggregateError', () => {
    assert.equal(classifyTlsFailure(new TypeError('fetch failed', { cause: coded('UND_ERR_PRX_TLS', coded('CERT_HAS_EXPIRED')) }))?.kind, 'expired');
    assert.equal(classifyTlsFailure(new AggregateError([coded('ERR_TLS_CERT_ALTNAME_INVALID')]))?.kind, 'host-mismatch');
  });
});

describe('classifyTlsFailure on real handshakes', () => {
  let pki: TestPki;
  let server: Server;
  let port: number;
  before(async () => {
    pki = createTestPki();
    ({ server, port } = await startTlsServer(pki));
  });
  after(() => {
    server?.close();
    pki?.remove();
  });

  const handshake = async (options: { ca?: string; servername?: string }): Promise<unknown> => {
    const socket = connect({ host: '127.0.0.1', port, ...options });
    const error = await new Promise<unknown>((resolve) => {
      socket.once('error', resolve);
      socket.once('secureConnect', () => resolve(undefined));
    });
    socket.destroy();
    return error;
  };

  it('an unknown CA is untrusted; a certificate for another name is a host mismatch', async () => {
    assert.equal(classifyTlsFailure(await handshake({}))?.kind, 'untrusted');
    const wrongHost = await handshake({ ca: pki.ca, servername: 'other.example' });
    assert.equal(classifyTlsFailure(new TypeError('fetch failed', { cause: wrongHost }))?.kind, 'host-mismatch');
  });
});
