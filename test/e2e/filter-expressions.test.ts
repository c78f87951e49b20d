/**
 * A destination's FILTER (a JSONata expression) with the real processes,
 * applied by the ingester before queueing. Oracle: each receiver gets exactly
 * the events its expression selects (worked out here from the frames), its
 * queue holds nothing else, and the ingester counts the rest by reason. A
 * FILTER that cannot compile stops the ingester at start, naming the variable
 * and the position; one that runs out of time on an event keeps that event
 * out (fail closed) and no other.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { destinationKeys, queuePrefix } from '../../shared/queue/contract.js';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';
import { runToExit, startProcess } from '../helpers/processes.js';
import { queuedEvents } from '../helpers/queued-events.js';
import { RecordingReceiver } from '../helpers/recording-receiver.js';
import type { EntityKind } from '../helpers/stix-fixtures.js';
import type { EmittedFrame, StreamEventName } from '../helpers/stream-emulator.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

const EVENTS: StreamEventName[] = ['create', 'update', 'delete'];
const KINDS: EntityKind[] = ['indicator', 'malware', 'report', 'identity', 'relationship'];
/** (a+)+ backtracks for ever against a run of a's that ends in a mismatch. */
const CATASTROPHIC = `${'a'.repeat(40)}!`;

const stixType = (frame: EmittedFrame): string => (JSON.parse(frame.data) as { data: { type: string } }).data.type;
const bodies = (receiver: RecordingReceiver): string[] => receiver.delivered().map((request) => request.body).sort();
const datas = (frames: EmittedFrame[]): string[] => frames.map((frame) => frame.data).sort();

describe('FILTER expressions', () => {
  let bed: TestBed;
  let indicators: RecordingReceiver;
  let updates: RecordingReceiver;
  let slow: RecordingReceiver;
  before(async () => {
    bed = await startTestBed();
    [indicators, updates, slow] = await Promise.all([RecordingReceiver.start(), RecordingReceiver.start(), RecordingReceiver.start()]);
  });
  after(async () => {
    await Promise.all([indicators?.close(), updates?.close(), slow?.close()]);
    await bed?.close();
  });

  it('each destination gets, and queues, exactly the events its FILTER selects; the ingester counts the rest; one that times out keeps only its event out', async () => {
    const frames = bed.emulator.publishMany(45, (i) => ({ event: EVENTS[i % 3], entityType: KINDS[i % 5] }));
    const wantedIndicators = frames.filter((frame) => stixType(frame) === 'indicator');
    const wantedUpdates = frames.filter((frame) => frame.event === 'update' && stixType(frame) !== 'report');
    const stuck = frames[7]!;
    const wantedSlow = frames.filter((frame) => frame !== stuck);
    assert.ok(wantedIndicators.length > 0 && wantedUpdates.length > 0 && wantedUpdates.length < frames.filter((frame) => frame.event === 'update').length);

    const port = await freePort();
    const env = bed.env({
      DESTINATIONS: 'ind,upd,slow',
      DESTINATION_IND_URL: indicators.url,
      DESTINATION_IND_FILTER: "data.type = 'indicator'",
      DESTINATION_UPD_URL: updates.url,
      DESTINATION_UPD_FILTER: "$event = 'update' and data.type != 'report'",
      DESTINATION_SLOW_URL: slow.url,
      // The regular expression runs on every event; on one it backtracks for ever.
      DESTINATION_SLOW_FILTER: `$not($exists($match($streamId = "${stuck.id}" ? "${CATASTROPHIC}" : data.id, /^(a+)+$/)))`,
      METRICS_ENABLE: 'true',
      METRICS_ADDR: '127.0.0.1',
    });
    await startProcess('ingester', { ...env, METRICS_PORT: String(port) });
    await startProcess('dispatcher', env);

    await waitFor(
      () =>
        bed.receiver.delivered().length >= frames.length &&
        indicators.delivered().length >= wantedIndicators.length &&
        updates.delivered().length >= wantedUpdates.length &&
        slow.delivered().length >= wantedSlow.length
          ? true
          : undefined,
      { timeoutMs: 30_000, what: 'every destination to get its events' },
    );
    const text = await waitFor(
      async () => {
        const scraped = await scrapeMetrics(port);
        return metricValue(scraped, 'opencti_webhook_events_filtered_total{reason="filter_failed",destination="slow"}') >= 1 ? scraped : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'the timed-out filter counted' },
    );
    assert.deepEqual(bodies(bed.receiver), datas(frames), 'the destination without a FILTER gets everything');
    assert.deepEqual(bodies(indicators), datas(wantedIndicators));
    assert.deepEqual(bodies(updates), datas(wantedUpdates));
    assert.deepEqual(bodies(slow), datas(wantedSlow), 'fail closed on the one event, and only on it');

    // Filtered before queueing: each queue holds only its destination's events.
    const redis = bed.redis.client();
    for (const [name, wanted] of [['ind', wantedIndicators], ['upd', wantedUpdates], ['slow', wantedSlow]] as const) {
      const queue = new Queue(destinationKeys(env.CONNECTOR_ID!, name).queueName, { connection: redis, prefix: queuePrefix(env.CONNECTOR_ID!) });
      const queued = await queuedEvents(queue, ['waiting', 'active', 'delayed', 'failed', 'completed']);
      await queue.close();
      assert.deepEqual(queued.map((event) => event.data.body).sort(), datas(wanted), name);
    }
    const filtered = (reason: string, destination: string): number => metricValue(text, `opencti_webhook_events_filtered_total{reason="${reason}",destination="${destination}"}`);
    assert.equal(filtered('filter', 'ind'), frames.length - wantedIndicators.length);
    assert.equal(filtered('filter', 'upd'), frames.length - wantedUpdates.length);
    assert.equal(filtered('filter_failed', 'slow'), 1);
    assert.equal(filtered('filter', 'slow'), 0);
    assert.equal(filtered('filter_failed', 'ind') + filtered('filter_failed', 'upd'), 0, 'the stuck evaluation cost no other destination an event');
  });

  it('an invalid FILTER stops the ingester at start, naming the variable and the position', async () => {
    const env = bed.env({ DESTINATIONS: 'ind', DESTINATION_IND_URL: indicators.url, DESTINATION_IND_FILTER: "data.type = 'indicator' and ]" });
    const result = await runToExit('ingester', env, 10_000);
    assert.equal(result.code, 1, `ingester exited ${result.code}: ${result.stdout}${result.stderr}`);
    const fatal = result.logs.filter((line) => line.level === 60);
    assert.equal(fatal.length, 1, 'one fatal line');
    assert.equal(fatal[0]!.code, 'OWH_CONFIG');
    assert.match(String(fatal[0]!.hint), /DESTINATION_IND_FILTER\b.*is not a valid JSONata expression at position \d+ \(S0\d{3}: /);
  });
});
