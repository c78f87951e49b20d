/**
 * How the ingester reaches OpenCTI: TLS with a private CA, verification off,
 * a clear failure otherwise, and an HTTP CONNECT proxy. Doubles: the OpenCTI
 * emulator served over HTTPS with a certificate of a CA made here with the
 * openssl CLI, a minimal CONNECT proxy on loopback that counts its tunnels, a
 * throwaway redis-server; the ingester is the real built process. Oracles:
 * what the emulator received (GraphQL and stream, with the client port of
 * each request) and the ingester's logs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { cursorKey } from '../../shared/queue/contract.js';
import { pipelineEnv } from '../helpers/factories.js';
import { startProcess, stopAll, type LogLine } from '../helpers/processes.js';
import { RedisServer } from '../helpers/redis-server.js';
import { StreamEmulator } from '../helpers/stream-emulator.js';

/** A CA and a certificate it signed for 127.0.0.1, in a temp dir. */
function makeCertificates(dir: string): { ca: string; key: string; cert: string } {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=opencti-webhook test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2',
    '-extfile', 'server.ext');
  return { ca: join(dir, 'ca.pem'), key: readFileSync(join(dir, 'server.key'), 'utf8'), cert: readFileSync(join(dir, 'server.pem'), 'utf8') };
}

/** A CONNECT-only HTTP proxy; remembers each tunnel's target and the local port of its connection to it. */
async function startConnectProxy(): Promise<{ url: string; tunnels: Array<{ target: string; upstreamPort: number }>; close(): Promise<void> }> {
  const tunnels: Array<{ target: string; upstreamPort: number }> = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req, client: Socket, head: Buffer) => {
    const [host, port] = String(req.url).split(':');
    const upstream = connect(Number(port), host, () => {
      tunnels.push({ target: String(req.url), upstreamPort: upstream.localPort! });
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('platform transport: TLS and proxies', () => {
  let dir: string;
  let ca: string;
  let redis: RedisServer;
  let emulator: StreamEmulator;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opencti-webhook-tls-'));
    const certificates = makeCertificates(dir);
    ca = certificates.ca;
    redis = await RedisServer.start();
    emulator = await StreamEmulator.start({ heartbeatIntervalMs: 200, tls: { key: certificates.key, cert: certificates.cert } });
    emulator.publishMany(5);
  });
  afterEach(() => stopAll());
  after(async () => {
    await emulator?.close();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const env = (overrides: Record<string, string> = {}) => pipelineEnv({ redisUrl: redis.url, openctiUrl: emulator.url, webhookUrl: 'http://127.0.0.1:9/unused' }, overrides);
  const connected = (line: LogLine) => line.msg === 'stream.connected';

  // OPENCTI_SSL_VERIFY=<CA path> gives the same TLS options as OPENCTI_CA_FILE (unit tests).
  it('reads the stream and registers over HTTPS signed by a private CA, given OPENCTI_CA_FILE, or with verification off', async () => {
    assert.match(emulator.url, /^https:/);
    const cases: Array<Record<string, string>> = [{ OPENCTI_CA_FILE: ca }, { OPENCTI_SSL_VERIFY: 'false' }];
    await Promise.all(
      cases.map(async (overrides) => {
        const settings = env(overrides);
        const ingester = await startProcess('ingester', settings);
        await ingester.waitForLog(connected, 10_000, `stream.connected with ${JSON.stringify(overrides)}`);
        assert.ok(emulator.platform.connectors.has(settings.CONNECTOR_ID!), `not registered over HTTPS with ${JSON.stringify(overrides)}`);
      }),
    );
  });

  it('without either, fails on the certificate and says which variable to set, for GraphQL and for the stream', async () => {
    const settings = env();
    // With a position stored, the stream is read while registration is retried.
    await redis.client().hset(cursorKey(settings.CONNECTOR_ID!), { resumeFrom: '0-0', commit: '0' });
    const requests = emulator.requests.length;
    const graphqlRequests = emulator.platform.requests.length;
    const ingester = await startProcess('ingester', settings);
    const tlsLine = (prefix: string) => (line: LogLine) => String(line.msg).startsWith(prefix) && line.level === 50;
    for (const prefix of ['platform.unreachable', 'platform.registration_failed', 'stream.tls_failed']) {
      const line = await ingester.waitForLog(tlsLine(prefix), 10_000, `${prefix} about the certificate`);
      assert.match(String(line.hint), /TLS certificate was not accepted.*OPENCTI_CA_FILE.*OPENCTI_SSL_VERIFY/);
      assert.match(String(line.tlsError), /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
    }
    assert.equal(emulator.requests.length, requests, 'a stream request got through');
    assert.equal(emulator.platform.requests.length, graphqlRequests, 'a GraphQL request got through');
  });

  it('goes through HTTPS_PROXY for the stream and GraphQL alike, and straight to hosts in NO_PROXY', async () => {
    const proxy = await startConnectProxy();
    try {
      const emulatorHost = new URL(emulator.url).host;
      const settings = env({ OPENCTI_CA_FILE: ca, HTTPS_PROXY: proxy.url, INGESTER_PING_INTERVAL_MS: '200' });
      const streamsBefore = emulator.requests.length;
      const callsBefore = emulator.platform.requests.length;
      const ingester = await startProcess('ingester', settings);
      await ingester.waitForLog(connected, 10_000, 'stream.connected through the proxy');
      await emulator.waitUntil(() => (emulator.platform.connectors.get(settings.CONNECTOR_ID!)?.pings ?? 0) >= 2, 5_000, 'pings through the proxy');
      await ingester.kill('SIGTERM');
      assert.ok(proxy.tunnels.length >= 2, `${proxy.tunnels.length} tunnels`);
      assert.ok(proxy.tunnels.every((tunnel) => tunnel.target === emulatorHost), 'a tunnel to another host');
      const tunnelled = new Set(proxy.tunnels.map((tunnel) => tunnel.upstreamPort));
      const streams = emulator.requests.slice(streamsBefore);
      const calls = emulator.platform.requests.slice(callsBefore);
      assert.ok(streams.length >= 1 && calls.some((call) => call.operation === 'pingConnector'));
      for (const request of streams) assert.ok(tunnelled.has(request.remotePort!), `stream request ${request.path} bypassed the proxy`);
      for (const call of calls) assert.ok(tunnelled.has(call.remotePort!), `GraphQL ${call.operation} bypassed the proxy`);

      const tunnels = proxy.tunnels.length;
      const direct = await startProcess('ingester', env({ OPENCTI_CA_FILE: ca, HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }));
      await direct.waitForLog(connected, 10_000, 'stream.connected without the proxy');
      assert.equal(proxy.tunnels.length, tunnels, 'NO_PROXY ignored');
    } finally {
      await proxy.close();
    }
  });
});
