import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyError, classifyStatus, describeError, judgeStatus, parseRetryAfter, tlsFailure } from '../../dispatcher/webhook/outcome.js';

describe('judgeStatus', () => {
  const NOW = Date.parse('2026-11-29T12:00:00Z');

  it('counts only 200–299 as delivered', () => {
    for (const status of [200, 201, 202, 204, 299]) assert.deepEqual(judgeStatus(status, undefined, NOW), { kind: 'delivered' }, String(status));
    for (const status of [100, 199, 300, 301, 304, 400, 404, 429, 500, 503]) assert.notEqual(judgeStatus(status, undefined, NOW).kind, 'delivered', String(status));
  });

  it('retries 3xx, 408, 429 and 5xx', () => {
    for (const status of [301, 302, 307, 408, 429, 500, 502, 503, 504, 599]) assert.equal(judgeStatus(status, undefined, NOW).kind, 'retry', String(status));
  });

  it('treats any other 4xx as the endpoint refusing the event', () => {
    for (const status of [400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 451]) assert.equal(judgeStatus(status, undefined, NOW).kind, 'rejected', String(status));
  });

  it('honours Retry-After on 429 and 503 only', () => {
    assert.deepEqual(judgeStatus(429, '7', NOW), { kind: 'retry', retryAfterMs: 7_000 });
    assert.deepEqual(judgeStatus(503, 'Sun, 29 Nov 2026 12:01:00 GMT', NOW), { kind: 'retry', retryAfterMs: 60_000 });
    assert.deepEqual(judgeStatus(500, '7', NOW), { kind: 'retry' });
  });
});

describe('parseRetryAfter', () => {
  const NOW = Date.parse('2026-11-29T12:00:00Z');
  it('reads delay-seconds and HTTP dates, and ignores garbage', () => {
    assert.equal(parseRetryAfter('0', NOW), 0);
    assert.equal(parseRetryAfter(' 120 ', NOW), 120_000);
    assert.equal(parseRetryAfter('Sun, 29 Nov 2026 11:00:00 GMT', NOW), 0);
    assert.equal(parseRetryAfter('soon', NOW), undefined);
    assert.equal(parseRetryAfter('-5', NOW), undefined);
    assert.equal(parseRetryAfter(undefined, NOW), undefined);
  });
});

describe('classifyStatus', () => {
  it('labels a status by its class', () => {
    const cases: Array<[number, string]> = [
      [200, '2xx'], [299, '2xx'], [301, '3xx'], [399, '3xx'], [400, '4xx'], [429, '4xx'], [499, '4xx'], [500, '5xx'], [503, '5xx'],
    ];
    for (const [status, label] of cases) assert.equal(classifyStatus(status), label, String(status));
  });
});

describe('classifyError', () => {
  it('treats an AbortSignal.timeout abort (TimeoutError) as a timeout', () => {
    assert.equal(classifyError({ name: 'TimeoutError' }), 'timeout');
    assert.equal(classifyError(new DOMException('timed out', 'TimeoutError')), 'timeout');
  });

  it('treats undici header, body and connect timeouts as timeouts', () => {
    for (const code of ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']) {
      assert.equal(classifyError(Object.assign(new Error(code), { code })), 'timeout', code);
    }
  });

  it('treats refused connections and other errors as network errors', () => {
    assert.equal(classifyError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), 'network');
    assert.equal(classifyError(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), 'network');
    assert.equal(classifyError(new Error('boom')), 'network');
    assert.equal(classifyError({ name: 'AbortError' }), 'network');
  });
});

describe('TLS failures', () => {
  const coded = (code: string, cause?: unknown) => Object.assign(new Error(code), { code }, cause === undefined ? {} : { cause });

  it('are told apart from network errors, also when undici wraps them', () => {
    assert.equal(classifyError(coded('UNABLE_TO_VERIFY_LEAF_SIGNATURE')), 'tls');
    assert.equal(classifyError(coded('UND_ERR_PRX_TLS', coded('ERR_TLS_CERT_ALTNAME_INVALID'))), 'tls');
    assert.equal(classifyError(coded('ECONNRESET')), 'network');
  });

  it('say what to do, with the Node code', () => {
    const untrusted = /^TLS: certificate not trusted \(set WEBHOOK_CA_FILE to the CA that signed it, or WEBHOOK_SSL_VERIFY=false\) \[(\w+)\]$/;
    for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']) {
      assert.equal(untrusted.exec(tlsFailure(coded(code)) ?? '')?.[1], code);
    }
    assert.match(tlsFailure(coded('CERT_HAS_EXPIRED')) ?? '', /^TLS: certificate expired/);
    assert.match(tlsFailure(coded('ERR_TLS_CERT_ALTNAME_INVALID')) ?? '', /does not name the host of WEBHOOK_URL/);
    assert.match(tlsFailure(coded('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED')) ?? '', /requires a client certificate \(set WEBHOOK_CLIENT_CERT_FILE/);
    assert.match(tlsFailure(coded('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA')) ?? '', /refused the client certificate/);
    assert.equal(tlsFailure(coded('ERR_SSL_SOMETHING_NEW')), 'TLS: handshake failed [ERR_SSL_SOMETHING_NEW]');
    assert.equal(tlsFailure(coded('ECONNREFUSED')), undefined);
  });
});

describe('describeError', () => {
  it('names the cause of an attempt without an answer', () => {
    assert.equal(describeError({ name: 'TimeoutError' }, 'timeout'), 'request timed out');
    assert.equal(describeError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'network'), 'unreachable (ECONNREFUSED)');
    assert.equal(describeError(new Error('Proxy response (407) !== 200 when HTTP Tunneling'), 'network'), 'proxy refused the tunnel (HTTP 407)');
    assert.match(describeError(Object.assign(new Error('x'), { code: 'CERT_HAS_EXPIRED' }), 'tls'), /^TLS: certificate expired/);
  });
});
