/**
 * What counts as delivered. Doubles: stream emulator, recording receiver
 * scripted to fail, throwaway redis-server; real processes.
 * Oracles: the receiver's records and the dispatcher's /metrics.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { PACK_JOB_NAME, QUEUE_NAME, queuePrefix, type EventJob } from '../../shared/queue/contract.js';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';
import { startProcess, stopAll } from '../helpers/processes.js';
import { queuedEvents } from '../helpers/queued-events.js';
import { RecordingReceiver } from '../helpers/recording-receiver.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';

describe('delivery outcomes', () => {
  let bed: TestBed;
  before(async () => {
    bed = await startTestBed();
  });

  // Each test runs its own connector on the shared emulator: stop the previous one.
  afterEach(() => stopAll());

  after(() => bed?.close());

  it('counts only 2xx as processed, retries everything else, and never follows a redirect', async (t) => {
    const otherHost = await RecordingReceiver.start();
    t.after(() => otherHost.close());
    const faults = [
      { status: 500 },
      { status: 503 },
      { status: 302, headers: { location: '/elsewhere' } },
      { status: 307, headers: { location: `${otherHost.url}/steal` } },
      { status: 404 },
      { status: 429 },
      { destroy: true },
    ];
    faults.forEach((fault) => bed.receiver.failNext(1, fault));
    const metricsPort = await freePort();
    const env = bed.env({
      METRICS_ENABLE: 'YES',
      METRICS_ADDR: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      CONNECTOR_CONSUMER_COUNT: '1',
      WEBHOOK_AUTH_TYPE: 'BEARER',
      WEBHOOK_TOKEN: 'redirect-secret-token',
    });
    bed.emulator.publishMany(20, (i) => ({ event: i % 2 ? 'update' : 'create' }));
    await startProcess('ingester', { ...env, METRICS_ENABLE: 'false' });
    await startProcess('dispatcher', env);
    await bed.receiver.waitForCount(20, 30_000);

    assert.equal(bed.receiver.requests.length, 20 + faults.length);
    assert.equal(bed.receiver.requests.filter((r) => r.path === '/elsewhere').length, 0, 'a redirect was followed');
    assert.equal(otherHost.requests.length, 0, 'a redirect to another host was followed');
    assert.ok(bed.receiver.requests.every((r) => r.headers.authorization === 'Bearer redirect-secret-token'));
    assert.equal(bed.receiver.deliveredIds().size, 20);
    const text = await scrapeMetrics(metricsPort);
    const processed =
      metricValue(text, 'processed_messages_total{name="Webhook test",action="create"}') +
      metricValue(text, 'processed_messages_total{name="Webhook test",action="update"}');
    assert.equal(processed, 20);
    assert.equal(metricValue(text, 'opencti_webhook_delivery_attempts_total{result="5xx"}'), 2);
    assert.equal(metricValue(text, 'opencti_webhook_delivery_attempts_total{result="4xx"}'), 2);
    assert.equal(metricValue(text, 'opencti_webhook_delivery_attempts_total{result="3xx"}'), 2);
    assert.equal(metricValue(text, 'opencti_webhook_delivery_attempts_total{result="network"}'), 1);
    assert.equal(metricValue(text, 'opencti_webhook_delivery_attempts_total{result="2xx"}'), 20);
  });

  it('moves an event to the failed set after its last attempt and keeps delivering the others', async () => {
    const poisonAfter = bed.emulator.mainFrames().length;
    const metricsPort = await freePort();
    const env = bed.env({ METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1', METRICS_PORT: String(metricsPort), WEBHOOK_RETRY_ATTEMPTS: '3' });
    const frames = bed.emulator.publishMany(10);
    const poison = frames[4]!;
    bed.receiver.setFaults((req) => (req.headers['x-opencti-event-id'] === poison.id ? { status: 500 } : undefined));
    try {
      await startProcess('ingester', { ...env, METRICS_ENABLE: 'false' });
      const dispatcher = await startProcess('dispatcher', env);
      const gaveUp = await dispatcher.waitForLog((line) => line.msg === 'delivery.gave_up', 20_000, 'delivery.gave_up');
      // The failed set keeps the last status and the start of the answer.
      assert.match(String(gaveUp.reason), /^webhook: HTTP 500: \{"ok":false\}$/);
      assert.equal(gaveUp.failure, 'exhausted');
      const deliveredNow = new Set(bed.receiver.delivered().map((r) => String(r.headers['x-opencti-event-id'])));
      for (const frame of bed.emulator.mainFrames().slice(poisonAfter)) {
        if (frame.id !== poison.id) assert.ok(deliveredNow.has(frame.id), `${frame.id} was blocked by the poison event`);
      }
      // Its 3 attempts as a job of its own; queued in a pack (INGESTER_EVENTS_PER_JOB), it was tried
      // once there first, then left the pack for that job (dispatcher/delivery/deliver-pack.ts).
      const queue = new Queue(QUEUE_NAME, { connection: bed.redis.client(), prefix: queuePrefix(env.CONNECTOR_ID!) });
      const packed = (await queuedEvents(queue, ['completed'])).some(({ job, data }) => job.name === PACK_JOB_NAME && data.streamId === poison.id);
      const failed = await queue.getJobs(['failed']);
      await queue.close();
      assert.deepEqual(failed.map((job) => [(job.data as EventJob).streamId, job.attemptsMade]), [[poison.id, 3]]);
      assert.equal(bed.receiver.requests.filter((r) => r.headers['x-opencti-event-id'] === poison.id).length, 3 + (packed ? 1 : 0));
      assert.equal(metricValue(await scrapeMetrics(metricsPort), 'opencti_webhook_events_failed_total{reason="exhausted"}'), 1);
    } finally {
      bed.receiver.setFaults(undefined);
    }
  });

  it('exits 0 on SIGTERM', async () => {
    const env = bed.env();
    const ingester = await startProcess('ingester', env);
    const dispatcher = await startProcess('dispatcher', env);
    const [ingesterExit, dispatcherExit] = await Promise.all([ingester.kill('SIGTERM'), dispatcher.kill('SIGTERM')]);
    assert.deepEqual(ingesterExit, { code: 0, signal: null });
    assert.deepEqual(dispatcherExit, { code: 0, signal: null });
    assert.ok(ingester.logs.some((line) => line.msg === 'shutdown.completed'));
  });
});
