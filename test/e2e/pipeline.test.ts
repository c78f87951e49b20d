/**
 * The whole pipeline as a user runs it: the built ingester and dispatcher
 * processes, a throwaway redis-server, the OpenCTI stream emulator and a
 * recording webhook receiver. Oracle: every data frame the emulator sent
 * reaches the receiver with a 2xx, byte for byte, with the right headers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectedDeliveries } from '../helpers/oracle.js';
import { startProcess } from '../helpers/processes.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';

describe('pipeline: ingester → Redis → dispatcher → webhook', () => {
  let bed: TestBed;
  before(async () => {
    bed = await startTestBed();
  });
  after(() => bed?.close());

  it('delivers 1,200 events byte-identical, once each, with the documented headers', async () => {
    bed.emulator.publishMany(600, (i) => ({
      event: (['create', 'update', 'delete', 'merge'] as const)[i % 4],
      dependencies: i % 5 === 0 ? 2 : 0,
      ...(i % 50 === 0 ? { size: 120_000 } : {}),
    }));
    const { emulator, receiver } = bed;
    const env = bed.env({
      WEBHOOK_URL: `${receiver.url}?tenant=a`,
      WEBHOOK_AUTH_TYPE: 'token',
      WEBHOOK_HEADER: 'X-API-Key',
      WEBHOOK_TOKEN: 'secret-api-key',
    });
    const ingester = await startProcess('ingester', env);
    const dispatcher = await startProcess('dispatcher', env);
    // Live events while the backlog drains.
    emulator.publishMany(600, () => ({ event: 'create' }));

    const expected = expectedDeliveries(emulator.sentFrames());
    await emulator.waitUntil(() => emulator.sentFrames().length >= 1_200, 20_000, 'all frames sent');
    const all = expectedDeliveries(emulator.sentFrames());
    assert.ok(all.size >= 1_200 && all.size >= expected.size);
    await receiver.waitForCount(all.size, 60_000);

    const byStreamIdAndBody = new Map([...all.values()].map((f) => [`${f.id}\n${f.data}`, f]));
    const seenIds = new Set<string>();
    for (const request of receiver.delivered()) {
      const headers = request.headers;
      const key = `${headers['x-opencti-event-id']}\n${request.bodyBytes.toString('utf8')}`;
      const frame = byStreamIdAndBody.get(key);
      assert.ok(frame, `unexpected delivery ${headers['webhook-id']}`);
      assert.deepEqual(request.bodyBytes, Buffer.from(frame.data, 'utf8'));
      assert.equal(headers['x-opencti-event'], frame.event);
      assert.equal(headers['content-type'], 'application/json');
      assert.equal(headers.accept, 'application/json');
      assert.equal(headers['x-api-key'], 'secret-api-key');
      assert.match(String(headers['user-agent']), /^opencti-webhook\/\d+\.\d+\.\d+/);
      assert.equal(request.method, 'POST');
      assert.equal(request.path, '/webhook?tenant=a');
      const webhookId = String(headers['webhook-id']);
      assert.match(webhookId, /^\d+-\d+-[0-9a-f]{16}$/);
      assert.ok(!seenIds.has(webhookId), `duplicate delivery ${webhookId}`);
      seenIds.add(webhookId);
    }
    assert.equal(seenIds.size, all.size);
    const output = ingester.stdout + ingester.stderr + dispatcher.stdout + dispatcher.stderr;
    assert.doesNotMatch(output, /secret-api-key|emulator-token/, 'a secret reached the logs');
  });
});
