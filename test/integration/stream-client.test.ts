/**
 * The ingester's stream client against scripted SSE servers on loopback:
 * behaviours the OpenCTI emulator cannot provoke quickly (a silent
 * connection) or that need a look at the raw requests.
 * Oracles: the requests the server received and the frames handed over.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import type { RawFrame } from '../../ingester/stream/frame.js';
import { StreamClient, type DisconnectReason, type StreamClientOptions } from '../../ingester/stream/client.js';
import { createLogger } from '../../shared/observability/logger.js';
import { waitFor } from '../helpers/wait.js';

const logger = createLogger('test', 'error');
const cleanups: Array<() => Promise<unknown>> = [];
after(() => Promise.all(cleanups.map((cleanup) => cleanup())));

async function sseServer(onRequest: (req: IncomingMessage, res: ServerResponse, index: number) => void): Promise<{ url: string; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform' });
    res.write('event: connected\ndata: {"lastEventId":"0-0"}\n\n');
    onRequest(req, res, requests.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream/s1`, requests };
}

function startClient(url: string, overrides: Partial<StreamClientOptions> = {}) {
  const frames: RawFrame[] = [];
  const disconnects: DisconnectReason[] = [];
  const client = new StreamClient({
    url,
    headers: { authorization: 'Bearer t' },
    lastEventId: () => '1-0',
    onFrame: (frame) => frames.push(frame),
    waitForCapacity: () => Promise.resolve(),
    onDisconnected: (reason) => disconnects.push(reason),
    logger,
    reconnectDelay: { initialMs: 20, maxMs: 50 },
    ...overrides,
  });
  client.start();
  cleanups.push(() => client.stop());
  return { client, frames, disconnects };
}

describe('stream client', () => {
  it('reconnects when no frame with an id arrives within the idle timeout', async () => {
    const server = await sseServer(() => undefined);
    const { disconnects } = startClient(server.url, { idleTimeoutMs: 300 });
    await waitFor(() => server.requests.length >= 3, { timeoutMs: 5_000, what: 'three connections' });
    assert.ok(disconnects.length >= 2 && disconnects.every((reason) => reason === 'idle'), disconnects.join());
  });

  it('sends its own position as Last-Event-ID on every connection, not the last id it saw', async () => {
    const server = await sseServer((_req, res, index) => {
      if (index === 0) res.end('id: 5-0\nevent: create\ndata: {"a":1}\n\n');
    });
    startClient(server.url);
    await waitFor(() => server.requests.length >= 2, { timeoutMs: 5_000, what: 'a reconnection' });
    for (const req of server.requests) {
      assert.equal(req.headers['last-event-id'], '1-0');
      assert.equal(req.headers.authorization, 'Bearer t');
      assert.equal(req.headers.accept, 'text/event-stream');
    }
  });

  it('hands over every frame whatever its event name, with an empty id when it had none', async () => {
    const server = await sseServer((_req, res) => {
      res.write('id: 7-0\nevent: consumer_metrics\ndata: {}\n\nevent: error\ndata: {"m":1}\n\nid: 8-1\nevent: merge\ndata: {"b":2}\n\n');
    });
    const { frames } = startClient(server.url);
    await waitFor(() => frames.length >= 4, { timeoutMs: 5_000, what: 'four frames' });
    assert.deepEqual(frames.slice(0, 4), [
      { event: 'connected', id: '', data: '{"lastEventId":"0-0"}' },
      { event: 'consumer_metrics', id: '7-0', data: '{}' },
      { event: 'error', id: '', data: '{"m":1}' },
      { event: 'merge', id: '8-1', data: '{"b":2}' },
    ]);
  });

  it('reads nothing while the enqueuer has no room, then resumes', async () => {
    const server = await sseServer((_req, res) => {
      res.write('id: 9-0\nevent: create\ndata: {"c":3}\n\n');
    });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let waiting = 0;
    const { frames } = startClient(server.url, {
      waitForCapacity: () => {
        waiting += 1;
        return gate;
      },
    });
    await waitFor(() => waiting > 0 && server.requests.length === 1, { timeoutMs: 5_000, what: 'the reader waiting for capacity' });
    assert.equal(frames.length, 0);
    release();
    await waitFor(() => frames.some((frame) => frame.id === '9-0'), { timeoutMs: 5_000, what: 'the frame after release' });
  });
});
