/**
 * Security of delivery with the real processes: Standard Webhooks signatures
 * as a receiver verifies them (the official `standardwebhooks` package), an
 * endpoint with a private CA (a TLS failure pauses delivery and dead-letters
 * nothing), and a run with every option on — mTLS, private CA, BASIC auth,
 * extra headers, two signing secrets, through a CONNECT proxy — after which
 * no secret is found in any process output or in any Redis value.
 * Doubles: stream emulator, recording receivers (HTTP, HTTPS, HTTPS with
 * client certificates), a CONNECT proxy, throwaway redis-server; openssl
 * makes the certificates.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { QUEUE_NAME, queuePrefix } from '../../shared/queue/contract.js';
import { createTestPki, type TestPki } from '../helpers/certificates.js';
import { ConnectProxy } from '../helpers/connect-proxy.js';
import { EMULATOR_TOKEN } from '../helpers/factories.js';
import { expectedDeliveries } from '../helpers/oracle.js';
import { startProcess, stopAll, type ManagedProcess } from '../helpers/processes.js';
import { RecordingReceiver, type RecordedRequest } from '../helpers/recording-receiver.js';
import { dumpRedis } from '../helpers/redis-dump.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';

const newSecret = (bytes: number): string => `whsec_${randomBytes(bytes).toString('base64')}`;

/** Verifies `request` as a receiver would, with the official library; throws when it does not verify. */
function verify(secret: string, request: RecordedRequest): void {
  new Webhook(secret).verify(request.bodyBytes, request.headers as Record<string, string>);
}

async function failedCount(bed: TestBed, connectorId: string): Promise<number> {
  const client = bed.redis.client();
  try {
    return await client.zcard(`${queuePrefix(connectorId)}:${QUEUE_NAME}:failed`);
  } finally {
    client.disconnect();
  }
}

describe('webhook security, end to end', () => {
  let bed: TestBed;
  let pki: TestPki;
  before(async () => {
    pki = createTestPki();
  });
  afterEach(async () => {
    await bed?.close();
  });
  after(() => pki?.remove());

  it('signs every attempt: each delivery verifies with either of two rotated secrets, and a retry has a new timestamp', async () => {
    bed = await startTestBed();
    const [oldSecret, newSecret32] = [newSecret(24), newSecret(32)];
    bed.emulator.publishMany(10, (i) => ({ event: i % 2 ? 'update' : 'create' }));
    bed.receiver.failNext(1, { status: 500 });
    // Retries at ≥ 1.2 s (1.5 s − 20 % jitter): always a later Unix second.
    const env = bed.env({ WEBHOOK_SIGNING_SECRET: `${oldSecret} ${newSecret32}`, WEBHOOK_RETRY_BASE_DELAY_MS: '1500', WEBHOOK_RETRY_MAX_DELAY_MS: '3000', CONNECTOR_CONSUMER_COUNT: '2' });
    await startProcess('ingester', env);
    await startProcess('dispatcher', env);
    await bed.receiver.waitForCount(10, 20_000);

    const requests = bed.receiver.requests;
    assert.equal(requests.length, 11);
    for (const request of requests) {
      for (const secret of [oldSecret, newSecret32]) assert.doesNotThrow(() => verify(secret, request), `request ${request.index} with ${secret === oldSecret ? 'old' : 'new'} secret`);
      assert.throws(() => verify(newSecret(32), request), /No matching signature/);
    }
    const [failed, retry] = requests.filter((request) => request.headers['webhook-id'] === requests[0]!.headers['webhook-id']);
    assert.ok(failed && retry, 'the failed event was retried');
    assert.equal(failed.status, 500);
    assert.ok(
      Number(retry.headers['webhook-timestamp']) > Number(failed.headers['webhook-timestamp']),
      `the retry carries its own timestamp: ${failed.headers['webhook-timestamp']} at ${failed.receivedAt}, then ${retry.headers['webhook-timestamp']} at ${retry.receivedAt}`,
    );
    assert.notEqual(retry.headers['webhook-signature'], failed.headers['webhook-signature']);
  });

  it('pauses on an untrusted certificate with a clear reason and dead-letters nothing; with WEBHOOK_CA_FILE everything is delivered', async () => {
    bed = await startTestBed();
    const https = await RecordingReceiver.start({ tls: { key: pki.serverKey, cert: pki.serverCert } });
    try {
      bed.emulator.publishMany(12);
      // One attempt per event: a charged TLS failure would dead-letter at once.
      const env = bed.env({ WEBHOOK_URL: https.url, WEBHOOK_RETRY_ATTEMPTS: '1', WEBHOOK_PROBE_INITIAL_DELAY_MS: '200', WEBHOOK_PROBE_MAX_DELAY_MS: '400' });
      await startProcess('ingester', env);
      const untrusting = await startProcess('dispatcher', env);
      const paused = await untrusting.waitForLog((line) => line.msg === 'endpoint.paused', 15_000, 'endpoint.paused');
      assert.match(String(paused.reason), /^TLS: certificate not trusted \(set WEBHOOK_CA_FILE to the CA that signed it, or WEBHOOK_SSL_VERIFY=false\) \[\w+\]$/);
      assert.equal(paused.code, 'OWH_WEBHOOK_TLS');
      // A probe fails the same way and pauses again: still nothing charged.
      const probing = await untrusting.waitForLog((line) => line.msg === 'endpoint.probing', 10_000, 'endpoint.probing');
      await untrusting.waitForLog((line) => line.msg === 'endpoint.paused', 10_000, 'a second endpoint.paused', untrusting.logs.indexOf(probing));
      await untrusting.kill('SIGTERM');
      assert.equal(untrusting.logs.filter((line) => line.msg === 'delivery.gave_up').length, 0);
      assert.equal(await failedCount(bed, env.CONNECTOR_ID!), 0);
      assert.equal(https.requests.length, 0);

      const trusting = await startProcess('dispatcher', { ...env, WEBHOOK_CA_FILE: pki.caFile });
      await https.waitForCount(expectedDeliveries(bed.emulator.sentFrames()).size, 20_000);
      await trusting.waitForLog((line) => line.msg === 'endpoint.resumed', 10_000, 'endpoint.resumed');
      assert.equal(await failedCount(bed, env.CONNECTOR_ID!), 0);
    } finally {
      await stopAll();
      await https.close();
    }
  });

  it('with every option on (mTLS, private CA, BASIC, extra headers, two secrets, CONNECT proxy) delivers, and no secret reaches a log or Redis', async () => {
    bed = await startTestBed();
    const receiver = await RecordingReceiver.start({ tls: { key: pki.serverKey, cert: pki.serverCert, requestCert: true, rejectUnauthorized: true, ca: pki.ca } });
    const proxy = await ConnectProxy.start();
    const secrets = {
      password: `pw-${randomBytes(9).toString('hex')}`,
      token: `unused-token-${randomBytes(9).toString('hex')}`,
      tenantKey: `tenant-${randomBytes(9).toString('hex')}`,
      signing: [newSecret(32), newSecret(48)] as const,
    };
    const basic = Buffer.from(`soar:${secrets.password}`).toString('base64');
    const processes: ManagedProcess[] = [];
    try {
      bed.emulator.publishMany(30, (i) => ({ event: (['create', 'update', 'delete', 'merge'] as const)[i % 4] }));
      // The endpoint echoes the credentials it receives in its error pages.
      receiver.setFaults((request) => (request.index < 3 ? { status: 500, body: `denied: ${JSON.stringify(request.headers)} ${secrets.password}` } : undefined));
      const env = bed.env({
        CONNECTOR_LOG_LEVEL: 'debug',
        WEBHOOK_URL: receiver.url,
        WEBHOOK_HTTPS_ONLY: 'true',
        WEBHOOK_AUTH_TYPE: 'BASIC',
        WEBHOOK_USERNAME: 'soar',
        WEBHOOK_PASSWORD: secrets.password,
        WEBHOOK_TOKEN: secrets.token,
        WEBHOOK_EXTRA_HEADERS: JSON.stringify({ 'X-Tenant-Key': secrets.tenantKey }),
        WEBHOOK_SIGNING_SECRET: secrets.signing.join(' '),
        WEBHOOK_CA_FILE: pki.caFile,
        WEBHOOK_CLIENT_CERT_FILE: pki.clientCertFile,
        WEBHOOK_CLIENT_KEY_FILE: pki.clientKeyFile,
        HTTPS_PROXY: proxy.url,
        CONNECTOR_CONSUMER_COUNT: '4',
      });
      processes.push(await startProcess('ingester', env));
      processes.push(await startProcess('dispatcher', env));
      const expected = expectedDeliveries(bed.emulator.sentFrames()).size;
      await receiver.waitForCount(expected, 20_000);

      for (const request of receiver.delivered()) {
        assert.equal(request.headers.authorization, `Basic ${basic}`);
        assert.equal(request.headers['x-tenant-key'], secrets.tenantKey);
        assert.equal(request.clientCertificateCN, 'dispatcher-client');
        for (const secret of secrets.signing) verify(secret, request);
      }
      assert.ok(proxy.tunnels.length >= 1 && proxy.tunnels.length <= 4 + 3, `${proxy.tunnels.length} tunnels for 4 kept-alive sockets`);
      assert.ok(proxy.tunnels.every((tunnel) => tunnel.target === new URL(receiver.url).host));
      const configured = processes[1]!.logs.find((line) => line.msg === 'destination.configured')!;
      assert.equal(configured.signingSecrets, 2);
      assert.equal(configured.authType, 'BASIC');
      assert.equal(configured.tokenConfigured, true);
      assert.deepEqual(configured.extraHeaders, ['x-tenant-key']);
      assert.ok(processes[1]!.logs.some((line) => line.msg === 'delivery.failed' && /\[redacted\]/.test(String(line.reason))), 'the echoed credentials were redacted');

      for (const child of processes) await child.kill('SIGTERM');
      const client = bed.redis.client();
      const redisText = await dumpRedis(client).finally(() => client.disconnect());
      assert.match(redisText, /opencti-webhook:\{/, 'the dump holds the queue');
      const outputs = processes.map((child) => child.stdout + child.stderr).join('\n');
      const keyBody = pki.clientKey.split('\n')[1]!;
      const forbidden = [
        secrets.password,
        secrets.token,
        secrets.tenantKey,
        basic,
        ...secrets.signing,
        ...secrets.signing.map((secret) => secret.slice('whsec_'.length, 'whsec_'.length + 16)),
        keyBody,
        EMULATOR_TOKEN,
      ];
      for (const secret of forbidden) {
        assert.ok(!outputs.includes(secret), `a secret (${secret.slice(0, 4)}…) reached the process output`);
        assert.ok(!redisText.includes(secret), `a secret (${secret.slice(0, 4)}…) reached Redis`);
      }
    } finally {
      await stopAll();
      await Promise.all([receiver.close(), proxy.close()]);
    }
  });
});
