import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyError, classifyStatus, isDelivered } from '../../dispatcher/outcome.js';

describe('isDelivered', () => {
  it('counts only 200–299 as delivered', () => {
    for (const status of [200, 201, 202, 204, 299]) assert.equal(isDelivered(status), true, String(status));
    for (const status of [0, 100, 199, 300, 301, 304, 400, 404, 429, 500, 503]) assert.equal(isDelivered(status), false, String(status));
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
