/**
 * The webhook client as the dispatcher builds it from its configuration
 * (auth type, extra headers, signing secrets, TLS files, proxy variables),
 * against recording receivers on loopback: plain HTTP, HTTPS with a private
 * CA, HTTPS requiring a client certificate, and a CONNECT proxy. Oracle:
 * what each receiver recorded, and how a failed request is classified.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { classifyError, describeError } from '../../dispatcher/webhook/outcome.js';
import { WebhookClient } from '../../dispatcher/webhook/client.js';
import { webhookClientOptions } from '../../dispatcher/webhook/options.js';
import { loadProxySettings } from '../../shared/config/load.js';
import { createTestPki, type TestPki } from '../helpers/certificates.js';
import { ConnectProxy } from '../helpers/connect-proxy.js';
import { RecordingReceiver, type RecordedRequest } from '../helpers/recording-receiver.js';
import { DISPATCHER_ENV, tempDir } from '../unit/config-helpers.js';
import { dispatcherConfig } from '../helpers/config.js';

const files = tempDir();
const empty = files.write('empty.yml', '');
const clients: WebhookClient[] = [];
let pki: TestPki;
before(() => {
  pki = createTestPki();
});
after(async () => {
  await Promise.all(clients.map((client) => client.close()));
  files.cleanup();
  pki?.remove();
});

/** A client built from the environment exactly as dispatcher/main.ts does. */
function clientFor(env: Record<string, string>): WebhookClient {
  const all = { ...DISPATCHER_ENV, ...env };
  const { webhook } = dispatcherConfig({ env: all, file: empty });
  const client = new WebhookClient(webhookClientOptions(webhook, 2, loadProxySettings(all)));
  clients.push(client);
  return client;
}

async function send(client: WebhookClient, body = '{"data":{"id":"indicator--1"}}', id = '1700000000000-0-0123456789abcdef') {
  return client.post(id, body, { 'x-opencti-event': 'create', 'x-opencti-event-id': '1700000000000-0' });
}

/** Why a request failed: [classification, reason]. */
async function failure(client: WebhookClient): Promise<[string, string]> {
  const error = await send(client).then(
    (response) => assert.fail(`expected a failure, got HTTP ${response.status}`),
    (caught: unknown) => caught,
  );
  const result = classifyError(error);
  return [result, describeError(error, result)];
}

const AUTH_HEADERS = ['authorization', 'x-api-key'];
const authOf = (request: RecordedRequest) => Object.fromEntries(AUTH_HEADERS.filter((name) => name in request.headers).map((name) => [name, request.headers[name]]));

describe('webhook client: authentication and headers', () => {
  let receiver: RecordingReceiver;
  before(async () => {
    receiver = await RecordingReceiver.start();
  });
  after(() => receiver?.close());

  it('sends exactly the header of each auth type', async () => {
    const cases: Array<[Record<string, string>, Record<string, string>]> = [
      [{ WEBHOOK_AUTH_TYPE: 'NONE' }, {}],
      [{ WEBHOOK_AUTH_TYPE: 'TOKEN', WEBHOOK_HEADER: 'X-API-Key', WEBHOOK_TOKEN: 'tok-123' }, { 'x-api-key': 'tok-123' }],
      [{ WEBHOOK_AUTH_TYPE: 'BEARER', WEBHOOK_TOKEN: 'tok-456' }, { authorization: 'Bearer tok-456' }],
      [
        { WEBHOOK_AUTH_TYPE: 'BASIC', WEBHOOK_USERNAME: 'soar', WEBHOOK_PASSWORD: 'pä:ss' },
        { authorization: `Basic ${Buffer.from('soar:pä:ss', 'utf8').toString('base64')}` },
      ],
    ];
    for (const [env, expected] of cases) {
      const before = receiver.requests.length;
      assert.equal((await send(clientFor({ WEBHOOK_URL: receiver.url, ...env }))).status, 200);
      const request = receiver.requests[before]!;
      assert.deepEqual(authOf(request), expected, env.WEBHOOK_AUTH_TYPE);
      assert.equal(request.headers['webhook-signature'], undefined, 'unsigned without WEBHOOK_SIGNING_SECRET');
    }
  });

  it('adds WEBHOOK_EXTRA_HEADERS next to the documented headers', async () => {
    const client = clientFor({ WEBHOOK_URL: receiver.url, WEBHOOK_EXTRA_HEADERS: '{"X-Tenant":"acme","X-Source":"opencti"}', WEBHOOK_AUTH_TYPE: 'BEARER', WEBHOOK_TOKEN: 't' });
    const before = receiver.requests.length;
    await send(client);
    const { headers } = receiver.requests[before]!;
    assert.equal(headers['x-tenant'], 'acme');
    assert.equal(headers['x-source'], 'opencti');
    assert.equal(headers.authorization, 'Bearer t');
    assert.equal(headers['content-type'], 'application/json');
    assert.equal(headers['webhook-id'], '1700000000000-0-0123456789abcdef');
    assert.equal(headers['x-opencti-event'], 'create');
  });

  it('keeps every configured secret out of the excerpt of a failed answer', async () => {
    const client = clientFor({
      WEBHOOK_URL: receiver.url,
      WEBHOOK_AUTH_TYPE: 'BASIC',
      WEBHOOK_USERNAME: 'soar',
      WEBHOOK_PASSWORD: 'pass-word-1',
      WEBHOOK_EXTRA_HEADERS: '{"X-Tenant-Key":"tenant-secret-2"}',
    });
    receiver.setFaults((request) => ({ status: 401, body: `refused ${request.headers.authorization} ${request.headers['x-tenant-key']} pass-word-1` }));
    try {
      const response = await send(client);
      assert.equal(response.status, 401);
      assert.equal(response.excerpt, 'refused Basic [redacted] [redacted] [redacted]');
      // A secret across the end of the excerpt leaves no piece behind.
      receiver.setFaults(() => ({ status: 500, body: `${'x'.repeat(505)}tenant-secret-2 and more` }));
      const cut = await send(client);
      assert.equal(cut.excerpt, `${'x'.repeat(505)}[redact`);
    } finally {
      receiver.setFaults(undefined);
    }
  });

  it('does not follow a redirect, so the credentials never reach the other host', async () => {
    const elsewhere = await RecordingReceiver.start();
    try {
      const client = clientFor({ WEBHOOK_URL: receiver.url, WEBHOOK_AUTH_TYPE: 'BEARER', WEBHOOK_TOKEN: 'tok-redirect' });
      receiver.failNext(1, { status: 307, headers: { location: `${elsewhere.url}/steal` } });
      assert.equal((await send(client)).status, 307);
      assert.equal(elsewhere.requests.length, 0);
    } finally {
      await elsewhere.close();
    }
  });
});

describe('webhook client: Standard Webhooks signatures', () => {
  const OLD = `whsec_${Buffer.alloc(24, 1).toString('base64')}`;
  const NEW = `whsec_${Buffer.alloc(48, 2).toString('base64')}`;
  let receiver: RecordingReceiver;
  before(async () => {
    receiver = await RecordingReceiver.start();
  });
  after(() => receiver?.close());

  it('signs the exact bytes sent with each secret; a receiver verifies with either', async () => {
    const client = clientFor({ WEBHOOK_URL: receiver.url, WEBHOOK_SIGNING_SECRET: `${OLD} ${NEW}` });
    const body = '{"data":{"id":"malware--1","name":"Emotet ☃ — «x»"}}';
    const before = Math.floor(Date.now() / 1000);
    await send(client, body, 'id-abc');
    const request = receiver.requests.at(-1)!;
    const timestamp = Number(request.headers['webhook-timestamp']);
    assert.ok(timestamp >= before && timestamp <= Math.floor(Date.now() / 1000), 'webhook-timestamp is the Unix seconds of the attempt');
    assert.equal(request.headers['webhook-id'], 'id-abc');
    const headers = request.headers as Record<string, string>;
    for (const secret of [OLD, NEW]) assert.deepEqual(new Webhook(secret).verify(request.bodyBytes, headers), JSON.parse(body));
    assert.throws(() => new Webhook(`whsec_${Buffer.alloc(24, 3).toString('base64')}`).verify(request.bodyBytes, headers));
  });
});

describe('webhook client: TLS', () => {
  let https: RecordingReceiver;
  let mtls: RecordingReceiver;
  before(async () => {
    https = await RecordingReceiver.start({ tls: { key: pki.serverKey, cert: pki.serverCert } });
    mtls = await RecordingReceiver.start({ tls: { key: pki.serverKey, cert: pki.serverCert, requestCert: true, rejectUnauthorized: true, ca: pki.ca } });
  });
  after(() => Promise.all([https?.close(), mtls?.close()]));

  it('trusts a private CA with WEBHOOK_CA_FILE, says so clearly without it, and can skip verification', async () => {
    assert.equal((await send(clientFor({ WEBHOOK_URL: https.url, WEBHOOK_CA_FILE: pki.caFile }))).status, 200);
    const [result, reason] = await failure(clientFor({ WEBHOOK_URL: https.url }));
    assert.equal(result, 'tls');
    assert.match(reason, /^TLS: certificate not trusted \(set WEBHOOK_CA_FILE to the CA that signed it, or WEBHOOK_SSL_VERIFY=false\) \[UNABLE_TO_VERIFY_LEAF_SIGNATURE\]$/);
    assert.equal((await failure(clientFor({ WEBHOOK_URL: https.url, WEBHOOK_CA_FILE: pki.otherCaFile })))[0], 'tls');
    assert.equal((await send(clientFor({ WEBHOOK_URL: https.url, WEBHOOK_SSL_VERIFY: 'false' }))).status, 200);
  });

  it('checks the host name against the certificate', async () => {
    const otherHost = await RecordingReceiver.start({ tls: { key: pki.otherHostKey, cert: pki.otherHostCert } });
    try {
      const [result, reason] = await failure(clientFor({ WEBHOOK_URL: otherHost.url, WEBHOOK_CA_FILE: pki.caFile }));
      assert.equal(result, 'tls');
      assert.match(reason, /certificate does not name the host of WEBHOOK_URL \[ERR_TLS_CERT_ALTNAME_INVALID\]/);
    } finally {
      await otherHost.close();
    }
  });

  it('presents the client certificate to an endpoint that requires one, and says so when it is missing', async () => {
    const withCert = clientFor({ WEBHOOK_URL: mtls.url, WEBHOOK_CA_FILE: pki.caFile, WEBHOOK_CLIENT_CERT_FILE: pki.clientCertFile, WEBHOOK_CLIENT_KEY_FILE: pki.clientKeyFile });
    assert.equal((await send(withCert)).status, 200);
    assert.equal(mtls.requests.at(-1)?.clientCertificateCN, 'dispatcher-client');
    const count = mtls.requests.length;
    const [result, reason] = await failure(clientFor({ WEBHOOK_URL: mtls.url, WEBHOOK_CA_FILE: pki.caFile }));
    assert.equal(result, 'tls');
    assert.match(reason, /^TLS: the endpoint requires a client certificate \(set WEBHOOK_CLIENT_CERT_FILE and WEBHOOK_CLIENT_KEY_FILE\)/);
    assert.equal(mtls.requests.length, count, 'the endpoint never saw the request');
  });
});

describe('webhook client: HTTP(S)_PROXY', () => {
  let proxy: ConnectProxy;
  let plain: RecordingReceiver;
  let mtls: RecordingReceiver;
  before(async () => {
    proxy = await ConnectProxy.start();
    plain = await RecordingReceiver.start();
    mtls = await RecordingReceiver.start({ tls: { key: pki.serverKey, cert: pki.serverCert, requestCert: true, rejectUnauthorized: true, ca: pki.ca } });
  });
  after(async () => {
    await Promise.all([proxy?.close(), plain?.close(), mtls?.close()]);
  });

  it('tunnels http:// and https:// deliveries through the proxy, TLS options included, one tunnel per kept-alive socket', async () => {
    const proxied = { HTTP_PROXY: proxy.url, https_proxy: proxy.url };
    const overHttp = clientFor({ ...proxied, WEBHOOK_URL: plain.url, WEBHOOK_AUTH_TYPE: 'BEARER', WEBHOOK_TOKEN: 'tok-proxy' });
    const overHttps = clientFor({ ...proxied, WEBHOOK_URL: mtls.url, WEBHOOK_CA_FILE: pki.caFile, WEBHOOK_CLIENT_CERT_FILE: pki.clientCertFile, WEBHOOK_CLIENT_KEY_FILE: pki.clientKeyFile });
    for (let i = 0; i < 5; i += 1) {
      assert.equal((await send(overHttp)).status, 200);
      assert.equal((await send(overHttps)).status, 200);
    }
    const targets = proxy.tunnels.map((tunnel) => tunnel.target);
    assert.deepEqual(new Set(targets), new Set([new URL(plain.url).host, new URL(mtls.url).host]));
    assert.equal(targets.length, 2, 'sequential requests reuse one tunnel each');
    assert.equal(mtls.requests.length, 5);
    assert.ok(mtls.requests.every((request) => request.clientCertificateCN === 'dispatcher-client'));
    assert.equal(plain.requests.at(-1)?.headers.authorization, 'Bearer tok-proxy');
    assert.ok(proxy.tunnels.every((tunnel) => tunnel.headers.authorization === undefined), 'the webhook credentials went to the proxy');
  });

  it('goes direct to hosts in NO_PROXY', async () => {
    const tunnels = proxy.tunnels.length;
    const client = clientFor({ HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1', WEBHOOK_URL: plain.url });
    assert.equal((await send(client)).status, 200);
    assert.equal(proxy.tunnels.length, tunnels);
  });
});
