/**
 * What operators watch: every metric docs/metrics.md documents is served by its
 * process and moves during a run, and /readyz follows Redis. Doubles: stream
 * emulator, recording receiver, throwaway redis-server (killed and restarted
 * on purpose); real processes. Oracles: /metrics, /readyz, the docs/metrics.md table.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { request } from 'undici';
import { QUEUE_NAME, queuePrefix } from '../../shared/queue/contract.js';
import { documentedMetrics, type MetricProcess } from '../helpers/docs.js';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';
import { startProcess } from '../helpers/processes.js';
import { queuedEvents } from '../helpers/queued-events.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

async function readyz(port: number): Promise<{ status: number; body: { ready: boolean; reasons: string[] } }> {
  const response = await request(`http://127.0.0.1:${port}/readyz`);
  return { status: response.statusCode, body: (await response.body.json()) as { ready: boolean; reasons: string[] } };
}

function assertDocumentedSeries(text: string, process: MetricProcess): void {
  const missing = documentedMetrics()
    .filter((metric) => metric.processes.includes(process))
    .filter((metric) => !text.includes(`\n# TYPE ${metric.name} `) && !text.startsWith(`# TYPE ${metric.name} `))
    .map((metric) => metric.name);
  assert.deepEqual(missing, [], `${process} does not serve metrics docs/metrics.md documents`);
}

describe('metrics and health of a running pipeline', () => {
  let bed: TestBed;
  const ports = { ingester: 0, dispatcher: 0 };
  /** Jobs completed once the 30 events are: fewer than 30, as the ingester packs consecutive events into one job. */
  let completedJobs = 0;
  before(async () => {
    bed = await startTestBed();
    ports.ingester = await freePort();
    ports.dispatcher = await freePort();
    const env = bed.env({ METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1' });
    bed.emulator.publishMany(30, (i) => ({ event: i % 3 ? 'create' : 'update' }));
    await startProcess('ingester', { ...env, METRICS_PORT: String(ports.ingester) });
    await startProcess('dispatcher', { ...env, METRICS_PORT: String(ports.dispatcher) });
    await bed.receiver.waitForCount(30, 20_000);
    const queue = new Queue(QUEUE_NAME, { connection: bed.redis.client(), prefix: queuePrefix(env.CONNECTOR_ID!) });
    completedJobs = await waitFor(async () => {
      const events = await queuedEvents(queue, ['completed']);
      return events.length === 30 ? new Set(events.map(({ job }) => job.id)).size : undefined;
    }, { timeoutMs: 5_000, what: '30 completed events' });
    await queue.close();
  });
  after(() => bed?.close());

  it('serves every documented metric, and they moved', async () => {
    const ingester = await scrapeMetrics(ports.ingester);
    assertDocumentedSeries(ingester, 'ingester');
    const enqueued = metricValue(ingester, 'opencti_webhook_events_enqueued_total{action="create"}') + metricValue(ingester, 'opencti_webhook_events_enqueued_total{action="update"}');
    assert.equal(enqueued, 30);
    assert.ok(metricValue(ingester, 'opencti_webhook_stream_frames_total{kind="event"}') >= 30);
    assert.ok(metricValue(ingester, 'current_state{name="Webhook test"}') > Date.now() - 60_000, 'current_state is not a recent epoch ms');
    assert.equal(metricValue(ingester, 'opencti_webhook_stream_connected'), 1);
    assert.equal(metricValue(ingester, 'opencti_webhook_redis_up'), 1);
    const lag = metricValue(ingester, 'opencti_webhook_stream_lag_seconds');
    assert.ok(lag >= 0 && lag < 30, `stream lag ${lag}`);

    const dispatcher = await scrapeMetrics(ports.dispatcher);
    assertDocumentedSeries(dispatcher, 'dispatcher');
    assert.equal(metricValue(dispatcher, 'opencti_webhook_delivery_attempts_total{result="2xx"}'), 30);
    assert.equal(metricValue(dispatcher, 'opencti_webhook_event_latency_seconds_count'), 30);
    assert.equal(metricValue(dispatcher, 'opencti_webhook_delivery_duration_seconds_count'), 30);
    assert.equal(metricValue(dispatcher, 'opencti_webhook_queue_jobs{state="completed"}'), completedJobs);
    assert.equal(metricValue(dispatcher, 'opencti_webhook_redis_up'), 1);
  });

  it('keeps the stream lag small while heartbeats arrive', async () => {
    // Heartbeats every 200 ms carry fresh ids once the backlog is read.
    const lag = await waitFor(async () => {
      const value = metricValue(await scrapeMetrics(ports.ingester), 'opencti_webhook_stream_lag_seconds');
      return value < 2 ? { value } : undefined;
    }, { timeoutMs: 5_000, what: 'stream lag under 2 s' });
    assert.ok(lag.value >= 0);
  });

  it('turns /readyz unready while Redis is down, naming Redis, and ready again after it restarts', async () => {
    assert.deepEqual(await readyz(ports.ingester), { status: 200, body: { ready: true, reasons: [], role: 'leader' } });
    assert.deepEqual(await readyz(ports.dispatcher), { status: 200, body: { ready: true, reasons: [], destinations: { default: 'delivering' } } });

    await bed.redis.kill();
    for (const [process, port] of Object.entries(ports)) {
      const answer = await waitFor(async () => {
        const probe = await readyz(port);
        return probe.status === 503 ? probe : undefined;
      }, { timeoutMs: 5_000, what: `${process} /readyz to answer 503` });
      assert.equal(answer.body.ready, false);
      assert.ok(answer.body.reasons.some((reason) => reason.startsWith('redis ')), `${process}: ${answer.body.reasons.join(', ')}`);
      const text = await scrapeMetrics(port);
      assert.equal(metricValue(text, 'opencti_webhook_redis_up'), 0, `${process} still reports Redis up`);
    }

    await bed.redis.restart();
    for (const [process, port] of Object.entries(ports)) {
      await waitFor(async () => (await readyz(port)).status === 200, { timeoutMs: 10_000, what: `${process} /readyz to answer 200 again` });
      assert.equal(metricValue(await scrapeMetrics(port), 'opencti_webhook_redis_up'), 1);
    }
  });

  it('answers /healthz whatever the dependencies do', async () => {
    for (const port of Object.values(ports)) {
      const response = await request(`http://127.0.0.1:${port}/healthz`);
      assert.equal(response.statusCode, 200);
      await response.body.dump();
    }
  });
});
