/**
 * What counts as delivered. Doubles: stream emulator, recording receiver
 * scripted to fail, throwaway redis-server; real processes.
 * Oracles: the receiver's records and the dispatcher's /metrics.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { request } from 'undici';
import { pipelineEnv } from '../helpers/factories.js';
import { freePort } from '../helpers/free-port.js';
import { startProcess, stopAll } from '../helpers/processes.js';
import { RecordingReceiver } from '../helpers/recording-receiver.js';
import { RedisServer } from '../helpers/redis-server.js';
import { StreamEmulator } from '../helpers/stream-emulator.js';

async function scrape(port: number): Promise<string> {
  const response = await request(`http://127.0.0.1:${port}/metrics`);
  return response.body.text();
}

function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('delivery outcomes', () => {
  let redis: RedisServer;
  let emulator: StreamEmulator;
  let receiver: RecordingReceiver;

  before(async () => {
    redis = await RedisServer.start();
    emulator = await StreamEmulator.start({ heartbeatIntervalMs: 200 });
    receiver = await RecordingReceiver.start();
  });

  // Each test runs its own connector on the shared emulator: stop the previous one.
  afterEach(() => stopAll());

  after(async () => {
    await stopAll();
    await Promise.all([receiver?.close(), emulator?.close()]);
    await redis?.stop();
  });

  it('counts only 2xx as processed, retries everything else, and never follows a redirect', async () => {
    const faults = [
      { status: 500 },
      { status: 503 },
      { status: 302, headers: { location: '/elsewhere' } },
      { status: 404 },
      { status: 429 },
      { destroy: true },
    ];
    faults.forEach((fault) => receiver.failNext(1, fault));
    const metricsPort = await freePort();
    const env = pipelineEnv(
      { redisUrl: redis.url, openctiUrl: emulator.url, webhookUrl: receiver.url },
      { METRICS_ENABLE: 'YES', METRICS_ADDR: '127.0.0.1', METRICS_PORT: String(metricsPort), CONNECTOR_CONSUMER_COUNT: '1' },
    );
    emulator.publishMany(20, (i) => ({ event: i % 2 ? 'update' : 'create' }));
    await startProcess('ingester', { ...env, METRICS_ENABLE: 'false' });
    await startProcess('dispatcher', env);
    await receiver.waitForCount(20, 30_000);

    assert.equal(receiver.requests.length, 20 + faults.length);
    assert.equal(receiver.requests.filter((r) => r.path === '/elsewhere').length, 0, 'a redirect was followed');
    assert.equal(receiver.deliveredIds().size, 20);
    const text = await scrape(metricsPort);
    const processed =
      metricValue(text, 'processed_messages_total{name="Webhook test",action="create"}') +
      metricValue(text, 'processed_messages_total{name="Webhook test",action="update"}');
    assert.equal(processed, 20);
    assert.equal(metricValue(text, 'opencti_webhook_delivery_attempts_total{result="5xx"}'), 2);
    assert.equal(metricValue(text, 'opencti_webhook_delivery_attempts_total{result="4xx"}'), 2);
    assert.equal(metricValue(text, 'opencti_webhook_delivery_attempts_total{result="3xx"}'), 1);
    assert.equal(metricValue(text, 'opencti_webhook_delivery_attempts_total{result="network"}'), 1);
    assert.equal(metricValue(text, 'opencti_webhook_delivery_attempts_total{result="2xx"}'), 20);
  });

  it('moves an event to the failed set after its last attempt and keeps delivering the others', async () => {
    const poisonAfter = emulator.mainFrames().length;
    const metricsPort = await freePort();
    const env = pipelineEnv(
      { redisUrl: redis.url, openctiUrl: emulator.url, webhookUrl: receiver.url },
      { METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1', METRICS_PORT: String(metricsPort), WEBHOOK_RETRY_ATTEMPTS: '3' },
    );
    const frames = emulator.publishMany(10);
    const poison = frames[4]!;
    receiver.setFaults((req) => (req.headers['x-opencti-event-id'] === poison.id ? { status: 500 } : undefined));
    try {
      await startProcess('ingester', { ...env, METRICS_ENABLE: 'false' });
      const dispatcher = await startProcess('dispatcher', env);
      await dispatcher.waitForLog((line) => line.msg === 'delivery.gave_up', 20_000, 'delivery.gave_up');
      const deliveredNow = new Set(receiver.delivered().map((r) => String(r.headers['x-opencti-event-id'])));
      for (const frame of emulator.mainFrames().slice(poisonAfter)) {
        if (frame.id !== poison.id) assert.ok(deliveredNow.has(frame.id), `${frame.id} was blocked by the poison event`);
      }
      assert.equal(receiver.requests.filter((r) => r.headers['x-opencti-event-id'] === poison.id).length, 3);
      assert.equal(metricValue(await scrape(metricsPort), 'opencti_webhook_events_failed_total'), 1);
    } finally {
      receiver.setFaults(undefined);
    }
  });

  it('exits 0 on SIGTERM', async () => {
    const env = pipelineEnv({ redisUrl: redis.url, openctiUrl: emulator.url, webhookUrl: receiver.url });
    const ingester = await startProcess('ingester', env);
    const dispatcher = await startProcess('dispatcher', env);
    const [ingesterExit, dispatcherExit] = await Promise.all([ingester.kill('SIGTERM'), dispatcher.kill('SIGTERM')]);
    assert.deepEqual(ingesterExit, { code: 0, signal: null });
    assert.deepEqual(dispatcherExit, { code: 0, signal: null });
    assert.ok(ingester.logs.some((line) => line.msg === 'shutdown.completed'));
  });
});
