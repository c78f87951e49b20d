/**
 * undici 8 negotiates HTTP/2 by ALPN with any TLS server that offers it. Both
 * our clients keep HTTP/1.1 (see createPlatformDispatcher and WebhookClient):
 * against a loopback TLS server that accepts HTTP/2 and HTTP/1.1, the oracle
 * is the protocol version each request arrived with. Run with a bare undici
 * Agent first, so the test proves the server really offers HTTP/2.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { WebhookClient } from '../../dispatcher/webhook/client.js';
import { createPlatformDispatcher, platformTls } from '../../ingester/platform/http.js';
import { loadProxySettings } from '../../shared/config/load.js';
import { createTestPki, type TestPki } from '../helpers/certificates.js';

let pki: TestPki;
let server: Http2SecureServer;
let url: string;
/** The HTTP version of every request, in arrival order. */
const versions: string[] = [];

before(async () => {
  pki = createTestPki();
  server = createSecureServer({ key: pki.serverKey, cert: pki.serverCert, allowHTTP1: true }, (req, res) => {
    versions.push(req.httpVersion);
    req.resume();
    req.on('end', () => res.end('{}'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
after(async () => {
  server?.close();
  pki?.remove();
});

describe('HTTP/1.1 to TLS endpoints that offer HTTP/2', () => {
  it('the server offers HTTP/2 to a default undici Agent', async () => {
    const agent = new Agent({ connect: { ca: pki.ca } });
    try {
      const response = await request(url, { dispatcher: agent });
      await response.body.dump();
      assert.equal(versions.at(-1), '2.0');
    } finally {
      await agent.close();
    }
  });

  it('the platform dispatcher (stream and GraphQL) speaks HTTP/1.1', async () => {
    const dispatcher = createPlatformDispatcher(platformTls({ ssl_verify: pki.caFile }), loadProxySettings({}));
    try {
      const response = await request(url, { dispatcher });
      await response.body.dump();
      assert.equal(response.statusCode, 200);
      assert.equal(versions.at(-1), '1.1');
    } finally {
      await dispatcher.close();
    }
  });

  it('the webhook client speaks HTTP/1.1', async () => {
    const client = new WebhookClient({ url, connections: 2, timeoutMs: 5_000, tls: { ca: pki.ca }, proxy: loadProxySettings({}) });
    try {
      const response = await client.post('1700000000000-0-0123456789abcdef', '{}', {});
      assert.equal(response.status, 200);
      assert.equal(versions.at(-1), '1.1');
    } finally {
      await client.close();
    }
  });
});
