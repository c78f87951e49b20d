import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestPki, type TestPki } from '../helpers/certificates.js';
import { configError, DISPATCHER_ENV, INGESTER_ENV, tempDir, variables } from './config-helpers.js';
import { dispatcherConfig, ingesterConfig } from '../helpers/config.js';

const files = tempDir();
const empty = files.write('empty.yml', '');
after(() => files.cleanup());

const dispatcher = (env: Record<string, string | undefined> = {}, file = empty) => dispatcherConfig({ env: { ...DISPATCHER_ENV, ...env }, file });
const SECRET_A = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SECRET_B = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

describe('webhook auth types', () => {
  it('BEARER needs WEBHOOK_TOKEN, BASIC needs WEBHOOK_USERNAME and WEBHOOK_PASSWORD', () => {
    assert.deepEqual(variables(configError(() => dispatcher({ WEBHOOK_AUTH_TYPE: 'bearer' }))), ['WEBHOOK_TOKEN']);
    assert.match(configError(() => dispatcher({ WEBHOOK_AUTH_TYPE: 'bearer' })).message, /WEBHOOK_TOKEN .*required when WEBHOOK_AUTH_TYPE=BEARER/);
    assert.deepEqual(variables(configError(() => dispatcher({ WEBHOOK_AUTH_TYPE: 'Basic' }))), ['WEBHOOK_PASSWORD', 'WEBHOOK_USERNAME']);
    assert.equal(dispatcher({ WEBHOOK_AUTH_TYPE: 'BEARER', WEBHOOK_TOKEN: 't0k' }).webhook.auth_type, 'BEARER');
    const basic = dispatcher({ WEBHOOK_AUTH_TYPE: 'basic', WEBHOOK_USERNAME: 'soar', WEBHOOK_PASSWORD: 'p:ss wörd' }).webhook;
    assert.deepEqual([basic.auth_type, basic.username, basic.password], ['BASIC', 'soar', 'p:ss wörd']);
  });

  it('refuses a user name with ":" and a password with control characters, never echoing the password', () => {
    const error = configError(() => dispatcher({ WEBHOOK_AUTH_TYPE: 'BASIC', WEBHOOK_USERNAME: 'a:b', WEBHOOK_PASSWORD: 'hunter2\r\nx' }));
    assert.deepEqual(variables(error), ['WEBHOOK_PASSWORD', 'WEBHOOK_USERNAME']);
    assert.doesNotMatch(error.message, /hunter2/);
  });
});

describe('WEBHOOK_EXTRA_HEADERS', () => {
  it('is a JSON object in the environment and a mapping in config.yml; names are lower-cased', () => {
    assert.deepEqual(dispatcher({ WEBHOOK_EXTRA_HEADERS: '{"X-Tenant":"acme","X-Priority":3}' }).webhook.extra_headers, { 'x-tenant': 'acme', 'x-priority': '3' });
    const file = files.write('headers.yml', 'webhook:\n  extra_headers:\n    X-Tenant: acme\n    X-Api-Version: 2\n');
    assert.deepEqual(dispatcher({}, file).webhook.extra_headers, { 'x-tenant': 'acme', 'x-api-version': '2' });
  });

  it('refuses text that is not a JSON object without quoting it', () => {
    for (const value of ['{"X-Key": s3cret-value}', '["s3cret-value"]', 's3cret-value']) {
      const error = configError(() => dispatcher({ WEBHOOK_EXTRA_HEADERS: value }));
      assert.deepEqual(variables(error), ['WEBHOOK_EXTRA_HEADERS']);
      assert.match(error.message, /must be a JSON object of header names to values/);
      assert.doesNotMatch(error.message, /s3cret/);
    }
  });

  it('refuses reserved, invalid and repeated names and bad values, naming them but never the values', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ 'Content-Type': 'text/plain' }, /"Content-Type" is set by the dispatcher itself/],
      [{ host: 'evil' }, /"host" is set by the dispatcher/],
      [{ 'Webhook-Signature': 'v1,x' }, /"Webhook-Signature" is set by the dispatcher/],
      [{ 'X-OpenCTI-Event': 'create' }, /"X-OpenCTI-Event" is set by the dispatcher/],
      [{ 'Proxy-Authorization': 'Basic x' }, /"Proxy-Authorization" is set by the dispatcher/],
      [{ 'X Tenant': 'acme' }, /"X Tenant" is not a valid header name/],
      [{ 'X-Tenant': 'a', 'x-tenant': 'b' }, /"x-tenant" is given twice/],
      [{ 'X-Key': 's3cret\u0000value' }, /the value of "X-Key" is empty or holds control characters/],
    ];
    for (const [headers, reason] of cases) {
      const error = configError(() => dispatcher({ WEBHOOK_EXTRA_HEADERS: JSON.stringify(headers) }));
      assert.deepEqual(variables(error), ['WEBHOOK_EXTRA_HEADERS'], JSON.stringify(headers));
      assert.match(error.message, reason);
      assert.doesNotMatch(error.message, /s3cret|evil|acme/);
    }
  });

  it('may not repeat the header of the auth type', () => {
    const token = { WEBHOOK_AUTH_TYPE: 'TOKEN', WEBHOOK_HEADER: 'X-Api-Key', WEBHOOK_TOKEN: 't' };
    assert.deepEqual(variables(configError(() => dispatcher({ ...token, WEBHOOK_EXTRA_HEADERS: '{"x-api-key":"other"}' }))), ['WEBHOOK_EXTRA_HEADERS']);
    const bearer = { WEBHOOK_AUTH_TYPE: 'BEARER', WEBHOOK_TOKEN: 't' };
    assert.deepEqual(variables(configError(() => dispatcher({ ...bearer, WEBHOOK_EXTRA_HEADERS: '{"Authorization":"Basic x"}' }))), ['WEBHOOK_EXTRA_HEADERS']);
    assert.deepEqual(dispatcher({ WEBHOOK_EXTRA_HEADERS: '{"Authorization":"Custom x"}' }).webhook.extra_headers, { authorization: 'Custom x' });
  });
});

describe('WEBHOOK_SIGNING_SECRET', () => {
  it('takes one or more space-separated secrets, or a YAML list', () => {
    assert.deepEqual(dispatcher({ WEBHOOK_SIGNING_SECRET: SECRET_A }).webhook.signing_secret, [SECRET_A]);
    assert.deepEqual(dispatcher({ WEBHOOK_SIGNING_SECRET: ` ${SECRET_A}   ${SECRET_B} ` }).webhook.signing_secret, [SECRET_A, SECRET_B]);
    const file = files.write('secrets.yml', `webhook:\n  signing_secret:\n    - ${SECRET_A}\n    - ${SECRET_B}\n`);
    assert.deepEqual(dispatcher({}, file).webhook.signing_secret, [SECRET_A, SECRET_B]);
  });

  it('says which secret is wrong and why, never quoting any', () => {
    const error = configError(() => dispatcher({ WEBHOOK_SIGNING_SECRET: `${SECRET_A} whsec_c2hvcnQ= s3cretNoPrefix` }));
    assert.deepEqual(variables(error), ['WEBHOOK_SIGNING_SECRET']);
    assert.match(error.message, /secret 2 of 3 holds 5 bytes, not 24 to 64; secret 3 of 3 does not start with whsec_/);
    assert.doesNotMatch(error.message, /MfKQ9r8G|c2hvcnQ|s3cret/);
  });
});

describe('webhook TLS', () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki?.remove());

  it('accepts a CA bundle and a client certificate with its key', () => {
    const { webhook } = dispatcher({ WEBHOOK_URL: 'https://soar.example/hook', WEBHOOK_CA_FILE: pki.caFile, WEBHOOK_CLIENT_CERT_FILE: pki.clientCertFile, WEBHOOK_CLIENT_KEY_FILE: pki.clientKeyFile });
    assert.deepEqual([webhook.ssl_verify, webhook.ca_file, webhook.client_cert_file, webhook.https_only], [true, pki.caFile, pki.clientCertFile, false]);
  });

  it('names the variable of a file that cannot be read or holds no PEM', () => {
    const notPem = files.write('not.pem', 'hello');
    const error = configError(() => dispatcher({ WEBHOOK_CA_FILE: `${pki.dir}/missing.pem`, WEBHOOK_CLIENT_CERT_FILE: notPem, WEBHOOK_CLIENT_KEY_FILE: pki.clientCertFile }));
    assert.deepEqual(variables(error), ['WEBHOOK_CA_FILE', 'WEBHOOK_CLIENT_CERT_FILE', 'WEBHOOK_CLIENT_KEY_FILE']);
    assert.match(error.message, /WEBHOOK_CA_FILE \(webhook\.ca_file\) names a file that cannot be read: ".*missing\.pem" \(ENOENT\)/);
    assert.match(error.message, /WEBHOOK_CLIENT_CERT_FILE .*holds no PEM certificate/);
    assert.match(error.message, /WEBHOOK_CLIENT_KEY_FILE .*holds no PEM private key/);
  });

  it('wants the client certificate and key together, and matching, never showing the key', () => {
    assert.deepEqual(variables(configError(() => dispatcher({ WEBHOOK_CLIENT_CERT_FILE: pki.clientCertFile }))), ['WEBHOOK_CLIENT_KEY_FILE']);
    assert.deepEqual(variables(configError(() => dispatcher({ WEBHOOK_CLIENT_KEY_FILE: pki.clientKeyFile }))), ['WEBHOOK_CLIENT_CERT_FILE']);
    const mismatch = configError(() => dispatcher({ WEBHOOK_CLIENT_CERT_FILE: pki.clientCertFile, WEBHOOK_CLIENT_KEY_FILE: pki.serverKeyFile }));
    assert.deepEqual(variables(mismatch), ['WEBHOOK_CLIENT_KEY_FILE']);
    assert.match(mismatch.message, /is not the private key of the certificate in WEBHOOK_CLIENT_CERT_FILE/);
    assert.doesNotMatch(mismatch.message, /PRIVATE KEY|MII/);
  });

  it('refuses a CA file while verification is off, and an http:// URL with WEBHOOK_HTTPS_ONLY', () => {
    assert.equal(dispatcher({ WEBHOOK_SSL_VERIFY: 'false' }).webhook.ssl_verify, false);
    assert.deepEqual(variables(configError(() => dispatcher({ WEBHOOK_SSL_VERIFY: 'no', WEBHOOK_CA_FILE: pki.caFile }))), ['WEBHOOK_CA_FILE']);
    const error = configError(() => dispatcher({ WEBHOOK_HTTPS_ONLY: 'true', WEBHOOK_URL: 'HTTP://soar.example/hook' }));
    assert.deepEqual(variables(error), ['WEBHOOK_URL']);
    assert.match(error.message, /WEBHOOK_URL .*is http:\/\/ while WEBHOOK_HTTPS_ONLY=true/);
    assert.equal(dispatcher({ WEBHOOK_HTTPS_ONLY: 'true', WEBHOOK_URL: 'https://soar.example/hook' }).webhook.https_only, true);
  });
});

describe('rate limit and filters', () => {
  it('take a positive rate and lists of event names and STIX types', () => {
    const { webhook } = dispatcher({ WEBHOOK_RATE_LIMIT_PER_SECOND: '0.5', WEBHOOK_EVENT_TYPES: 'Create, UPDATE,create', WEBHOOK_ENTITY_TYPES: 'Indicator malware,intrusion-set' });
    assert.equal(webhook.rate_limit_per_second, 0.5);
    assert.deepEqual(webhook.event_types, ['create', 'update']);
    assert.deepEqual(webhook.entity_types, ['indicator', 'malware', 'intrusion-set']);
    const file = files.write('filters.yml', 'webhook:\n  event_types: [create, delete]\n  entity_types:\n    - relationship\n');
    assert.deepEqual([dispatcher({}, file).webhook.event_types, dispatcher({}, file).webhook.entity_types], [['create', 'delete'], ['relationship']]);
    const unset = dispatcher().webhook;
    assert.deepEqual([unset.rate_limit_per_second, unset.event_types, unset.entity_types], [undefined, undefined, undefined]);
  });

  it('refuse a rate of 0, unknown event names and malformed types', () => {
    const error = configError(() => dispatcher({ WEBHOOK_RATE_LIMIT_PER_SECOND: '0', WEBHOOK_EVENT_TYPES: 'create,heartbeat', WEBHOOK_ENTITY_TYPES: 'indicator,x y!' }));
    assert.deepEqual(variables(error), ['WEBHOOK_ENTITY_TYPES', 'WEBHOOK_EVENT_TYPES', 'WEBHOOK_RATE_LIMIT_PER_SECOND']);
    assert.match(error.message, /WEBHOOK_EVENT_TYPES .*list of create, update, delete, merge/);
  });
});

describe('WEBHOOK_MARKINGS_EXCLUDE', () => {
  it('takes marking names and ids, from the environment or a YAML list; unset excludes nothing', () => {
    const id = 'marking-definition--5E57C739-391A-4EB3-B6BE-7D15CA92D5ED';
    assert.deepEqual(dispatcher({ WEBHOOK_MARKINGS_EXCLUDE: `TLP:RED, TLP:AMBER+STRICT,PAP:RED ${id}` }).webhook.markings_exclude, ['tlp:red', 'tlp:amber+strict', 'pap:red', id.toLowerCase()]);
    const file = files.write('markings.yml', 'webhook:\n  markings_exclude: [TLP:RED, ACME:INTERNAL]\n');
    assert.deepEqual(dispatcher({}, file).webhook.markings_exclude, ['tlp:red', 'acme:internal']);
    assert.equal(dispatcher().webhook.markings_exclude, undefined);
  });

  it('refuses what is neither a TYPE:VALUE name nor a marking-definition id, naming the forms it accepts', () => {
    const error = configError(() => dispatcher({ WEBHOOK_MARKINGS_EXCLUDE: 'TLP:RED,red,marking-definition--1234' }));
    assert.deepEqual(variables(error), ['WEBHOOK_MARKINGS_EXCLUDE']);
    assert.match(error.message, /WEBHOOK_MARKINGS_EXCLUDE .*TYPE:VALUE.*marking-definition--<uuid>/);
  });
});

describe('a webhook configuration with several mistakes', () => {
  it('is reported in one message naming every variable', () => {
    const error = configError(() =>
      dispatcher({
        WEBHOOK_AUTH_TYPE: 'BASIC',
        WEBHOOK_USERNAME: 'soar',
        WEBHOOK_SIGNING_SECRET: 'whsec_bad',
        WEBHOOK_CA_FILE: '/nonexistent/ca.pem',
        WEBHOOK_HTTPS_ONLY: 'yes',
        WEBHOOK_URL: 'http://soar.example/hook',
        WEBHOOK_EXTRA_HEADERS: '{"Host":"x"}',
      }),
    );
    assert.deepEqual(variables(error), ['WEBHOOK_CA_FILE', 'WEBHOOK_EXTRA_HEADERS', 'WEBHOOK_PASSWORD', 'WEBHOOK_SIGNING_SECRET', 'WEBHOOK_URL']);
  });
});

describe('WEBHOOK_ORDERING', () => {
  it('is none by default, entity on demand (any case), and read by the ingester without any other webhook setting', () => {
    const ingester = (env: Record<string, string> = {}) => ingesterConfig({ env: { ...INGESTER_ENV, ...env }, file: empty });
    assert.equal(ingester().webhook.ordering, 'none');
    assert.equal(ingester({ WEBHOOK_ORDERING: 'Entity' }).webhook.ordering, 'entity');
    assert.equal(dispatcher({ WEBHOOK_ORDERING: 'entity' }).webhook.ordering, 'entity');
    const file = files.write('ordering.yml', 'webhook:\n  ordering: entity\n');
    assert.equal(ingesterConfig({ env: INGESTER_ENV, file }).webhook.ordering, 'entity');
  });

  it('refuses anything else, naming the variable and the choices', () => {
    const error = configError(() => dispatcher({ WEBHOOK_ORDERING: 'strict' }));
    assert.deepEqual(variables(error), ['WEBHOOK_ORDERING']);
    assert.match(error.message, /none, entity/);
  });
});
