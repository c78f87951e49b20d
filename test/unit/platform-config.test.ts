import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { rootCertificates } from 'node:tls';
import { platformTls, tlsVerifyFailure } from '../../ingester/platform/http.js';
import { loadProxySettings } from '../../shared/config/load.js';
import { proxyFor } from '../../shared/net/proxy.js';
import { configError, INGESTER_ENV, tempDir, variables } from './config-helpers.js';
import { ingesterConfig } from '../helpers/config.js';

const files = tempDir();
const empty = files.write('empty.yml', '');
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const caFile = files.write('ca.pem', PEM);
after(() => files.cleanup());

const ingester = (env: Record<string, string | undefined> = {}) => ingesterConfig({ env: { ...INGESTER_ENV, ...env }, file: empty });

describe('OPENCTI_SSL_VERIFY and OPENCTI_CA_FILE', () => {
  it('verify by default (pycti did not)', () => {
    assert.equal(ingester().opencti.ssl_verify, true);
    assert.deepEqual(platformTls(ingester().opencti), { rejectUnauthorized: true });
  });

  it('accept a boolean word, or a CA bundle path like pycti', () => {
    assert.equal(ingester({ OPENCTI_SSL_VERIFY: 'False' }).opencti.ssl_verify, false);
    assert.equal(ingester({ OPENCTI_SSL_VERIFY: caFile }).opencti.ssl_verify, caFile);
    assert.deepEqual(platformTls(ingester({ OPENCTI_SSL_VERIFY: 'no' }).opencti), { rejectUnauthorized: false });
  });

  it('trust the CA of either variable in addition to the usual ones', () => {
    for (const env of [{ OPENCTI_SSL_VERIFY: caFile }, { OPENCTI_CA_FILE: caFile }]) {
      const tls = platformTls(ingester(env).opencti);
      assert.equal(tls.rejectUnauthorized, true);
      assert.equal(tls.ca?.length, rootCertificates.length + 1);
      assert.equal(tls.ca?.at(-1), PEM);
    }
  });

  it('refuse a CA file together with verification turned off', () => {
    assert.deepEqual(variables(configError(() => ingester({ OPENCTI_SSL_VERIFY: 'false', OPENCTI_CA_FILE: caFile }))), ['OPENCTI_CA_FILE']);
  });

  it('report an unreadable or non-PEM file under the variable that named it', () => {
    const notPem = files.write('not.pem', 'hello');
    const error = configError(() => platformTls(ingester({ OPENCTI_SSL_VERIFY: '/no/such/ca.pem', OPENCTI_CA_FILE: notPem }).opencti));
    assert.deepEqual(variables(error), ['OPENCTI_CA_FILE', 'OPENCTI_SSL_VERIFY']);
    assert.match(error.message, /OPENCTI_SSL_VERIFY .*cannot be read: "\/no\/such\/ca.pem" \(ENOENT\)/);
    assert.match(error.message, /OPENCTI_CA_FILE .*no PEM certificate/);
  });
});

describe('CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE', () => {
  const recover = (value: string | undefined) => ingester({ CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE: value }).connector.live_stream_recover_iso_date;

  it('is unset by default, which means "now" on the first start', () => {
    assert.equal(recover(undefined), undefined);
  });

  it('normalises dates to UTC with a Z (pycti sends it unescaped in the URL)', () => {
    assert.equal(recover('2025-02-12T11:55:10Z'), '2025-02-12T11:55:10Z');
    assert.equal(recover('2025-02-12T13:55:10.250+02:00'), '2025-02-12T11:55:10.250Z');
    assert.equal(recover('2025-02-12'), '2025-02-12T00:00:00Z');
  });

  it('is turned off by false, no, none or 0 in any case', () => {
    for (const word of ['false', 'No', 'NONE', '0']) assert.equal(recover(word), false, word);
  });

  it('rejects anything else, naming the variable', () => {
    for (const value of ['yesterday', 'true', '1700000000000', '2025-13-45']) {
      const error = configError(() => recover(value));
      assert.deepEqual(variables(error), ['CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE'], value);
      assert.match(error.message, /ISO 8601 date/);
    }
  });
});

describe('registration settings', () => {
  it('read CONNECTOR_SCOPE and INGESTER_PING_INTERVAL_MS (pycti pings every 40 s)', () => {
    const config = ingester({ CONNECTOR_SCOPE: 'webhook,soar' });
    assert.equal(config.connector.scope, 'webhook,soar');
    assert.equal(config.ingester.ping_interval_ms, 40_000);
    assert.deepEqual(variables(configError(() => ingester({ INGESTER_PING_INTERVAL_MS: '300000' }))), ['INGESTER_PING_INTERVAL_MS']);
  });
});

describe('platform connection helpers', () => {
  it('name the proxy in use without its credentials, HTTPS_PROXY first for https', () => {
    const settings = loadProxySettings({ HTTPS_PROXY: 'http://user:secret@proxy:3128', http_proxy: 'http://plain:8080' });
    assert.equal(proxyFor('https://opencti.example', settings), 'http://proxy:3128/');
    assert.equal(proxyFor('http://opencti.example', settings), 'http://plain:8080/');
    assert.equal(proxyFor('http://opencti.example', loadProxySettings({})), undefined);
  });

  it('tell a certificate failure behind fetch-style wrapping from other network errors', () => {
    const wrap = (code: string) => new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code }) });
    assert.equal(tlsVerifyFailure(wrap('SELF_SIGNED_CERT_IN_CHAIN')), 'SELF_SIGNED_CERT_IN_CHAIN');
    assert.equal(tlsVerifyFailure(wrap('ERR_TLS_CERT_ALTNAME_INVALID')), 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.equal(tlsVerifyFailure(wrap('ECONNREFUSED')), undefined);
  });
});
