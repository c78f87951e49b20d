/**
 * WEBHOOK_RATE_LIMIT_PER_SECOND holds for all dispatchers together. Two real
 * dispatcher processes drain a backlog to a receiver that answers at once;
 * oracle: the receiver's clock (arrival times of the 2xx deliveries) and
 * each dispatcher's processed_messages_total.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';
import { startProcess } from '../helpers/processes.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';

const LIMIT = 50;
const DELIVERIES = 320; // ≈ 6.4 s at the limit

/** Most deliveries within any window of `windowMs`. */
function busiestWindow(times: readonly number[], windowMs: number): number {
  let most = 0;
  for (let end = 0, start = 0; end < times.length; end += 1) {
    while (times[end]! - times[start]! >= windowMs) start += 1;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe('rate limit', () => {
  let bed: TestBed;
  before(async () => {
    bed = await startTestBed();
  });
  after(() => bed?.close());

  it(`holds ${LIMIT} requests/s across two dispatcher processes`, async (t) => {
    bed.emulator.publishMany(DELIVERIES, () => ({ size: 400 }));
    const env = bed.env({ WEBHOOK_RATE_LIMIT_PER_SECOND: String(LIMIT), CONNECTOR_CONSUMER_COUNT: '10', METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1' });
    const ports = [await freePort(), await freePort()];
    await startProcess('ingester', { ...env, METRICS_ENABLE: 'false' });
    await Promise.all(ports.map((port) => startProcess('dispatcher', { ...env, METRICS_PORT: String(port) })));
    await bed.receiver.waitForCount(DELIVERIES, 30_000);

    const times = bed.receiver.delivered().map((request) => request.receivedAt).sort((a, b) => a - b);
    const seconds = (times.at(-1)! - times[0]!) / 1000;
    const rate = (times.length - 1) / seconds;
    // Requests are spaced 1/LIMIT s apart; a process held up for a moment on a
    // busy machine sends its due requests together, so bursts are judged over 2 s.
    const [busiestSecond, busiestTwo] = [busiestWindow(times, 1000), busiestWindow(times, 2000)];
    t.diagnostic(`${times.length} deliveries in ${seconds.toFixed(2)} s: ${rate.toFixed(2)}/s for a limit of ${LIMIT}/s; busiest 1 s: ${busiestSecond}, busiest 2 s: ${busiestTwo}`);
    assert.ok(Math.abs(rate - LIMIT) <= LIMIT * 0.1, `measured ${rate.toFixed(2)}/s, limit ${LIMIT}/s`);
    assert.ok(busiestTwo <= 2 * LIMIT * 1.15, `${busiestTwo} deliveries within two seconds`);

    const processed = await Promise.all(
      ports.map(async (port) => {
        const text = await scrapeMetrics(port);
        return metricValue(text, 'processed_messages_total{name="Webhook test",action="create"}');
      }),
    );
    t.diagnostic(`deliveries per dispatcher: ${processed.join(', ')}`);
    assert.equal(processed[0]! + processed[1]!, DELIVERIES);
    assert.ok(processed.every((count) => count >= DELIVERIES / 4), 'both dispatchers delivered');
  });
});
