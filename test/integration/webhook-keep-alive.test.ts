/**
 * The webhook client's sockets through a storm of failed answers: a receiver
 * that answers 503, with a body longer than the excerpt the client keeps, to
 * 1,000 attempts made CONNECTOR_CONSUMER_COUNT at a time. Oracle: the client
 * ports the receiver saw, one per TCP connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebhookClient } from '../../dispatcher/webhook/client.js';
import { webhookClientOptions } from '../../dispatcher/webhook/options.js';
import { loadProxySettings } from '../../shared/config/load.js';
import { RecordingReceiver } from '../helpers/recording-receiver.js';
import { DISPATCHER_ENV, tempDir } from '../unit/config-helpers.js';
import { dispatcherConfig } from '../helpers/config.js';

const CONSUMER_COUNT = 10;
const ATTEMPTS = 1_000;

const files = tempDir();
let receiver: RecordingReceiver;
let client: WebhookClient;
before(async () => {
  receiver = await RecordingReceiver.start();
  const env = { ...DISPATCHER_ENV, WEBHOOK_URL: receiver.url, CONNECTOR_CONSUMER_COUNT: String(CONSUMER_COUNT) };
  const config = dispatcherConfig({ env, file: files.write('empty.yml', '') });
  client = new WebhookClient(webhookClientOptions(config.webhook, config.connector.consumer_count, loadProxySettings(env)));
});
after(async () => {
  await client?.close();
  await receiver?.close();
  files.cleanup();
});

/** Sends `count` attempts, `lanes` at a time (one per worker slot), and returns the statuses. */
async function storm(count: number, lanes: number): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < count) {
        const id = `1700000000000-0-${String(next++).padStart(16, '0')}`;
        statuses.push((await client.post(id, '{"data":{"id":"indicator--1"}}', { 'x-opencti-event': 'create' })).status);
      }
    }),
  );
  return statuses;
}

describe('webhook client keep-alive', () => {
  // Streamed in two parts, the body is still arriving when the client has its excerpt.
  for (const [what, bytes] of [['a short error page', 4 * 1024], ['an error page the size of a stack dump', 48 * 1024]] as const) {
    it(`reuses its sockets when every attempt is answered 503 with ${what}`, async () => {
      const body = `{"error":"unavailable","detail":"${'x'.repeat(bytes)}"}`;
      const first = receiver.requests.length;
      receiver.setFaults(() => ({ status: 503, body, splitBodyMs: 1 }));
      const statuses = await storm(ATTEMPTS, CONSUMER_COUNT);
      receiver.setFaults(undefined);
      assert.equal(statuses.length, ATTEMPTS);
      assert.ok(statuses.every((status) => status === 503));
      const connections = new Set(receiver.requests.slice(first).map((request) => request.remotePort));
      console.log(`${ATTEMPTS} attempts answered 503 with a ${body.length}-byte body: ${connections.size} connections`);
      assert.ok(connections.size <= CONSUMER_COUNT, `${connections.size} connections for ${ATTEMPTS} attempts`);
    });
  }

  it('still reads the excerpt of an empty answer and of one too long to drain', async () => {
    receiver.setFaults(() => ({ status: 503, body: '' }));
    assert.deepEqual(await storm(20, 2), Array(20).fill(503));
    const long = `{"error":"${'y'.repeat(256 * 1024)}"}`;
    receiver.setFaults(() => ({ status: 500, body: long, splitBodyMs: 1 }));
    const response = await client.post('1700000000000-0-ffffffffffffffff', '{}', {});
    receiver.setFaults(undefined);
    assert.equal(response.status, 500);
    assert.equal(response.excerpt, long.slice(0, 512));
  });
});
