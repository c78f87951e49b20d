/**
 * One stream, several destinations, with the real processes: the ingester
 * reads the stream once and queues each event for every destination whose
 * filters take it; each destination has its own queue, credentials and
 * breaker. Oracle: each receiver gets exactly the events its destination's
 * settings select (worked out here from the frames), with its own
 * credentials; a destination that answers 503 holds nothing up for the
 * others and loses nothing once it is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { request } from 'undici';
import { destinationKeys, queuePrefix } from '../../shared/queue/contract.js';
import type { EntityKind } from '../helpers/stix-fixtures.js';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';
import { startProcess } from '../helpers/processes.js';
import { queuedEvents } from '../helpers/queued-events.js';
import { RecordingReceiver } from '../helpers/recording-receiver.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

const KINDS: EntityKind[] = ['indicator', 'malware', 'report', 'identity', 'relationship'];
const stixType = (data: string): string => String((JSON.parse(data) as { data: { id: string } }).data.id).split('--')[0]!;
const bodies = (receiver: RecordingReceiver): string[] => receiver.delivered().map((request) => request.body).sort();

describe('destinations', () => {
  let bed: TestBed;
  let soar: RecordingReceiver;
  let chat: RecordingReceiver;
  before(async () => {
    bed = await startTestBed();
    [soar, chat] = await Promise.all([RecordingReceiver.start(), RecordingReceiver.start()]);
  });
  after(async () => {
    await Promise.all([soar?.close(), chat?.close()]);
    await bed?.close();
  });

  it('each get the events their own filters select, in their own queue, with their own credentials', async () => {
    const frames = bed.emulator.publishMany(60, (i) => ({ event: i % 3 === 2 ? 'update' : 'create', entityType: KINDS[i % 5] }));
    const indicators = frames.filter((frame) => stixType(frame.data) === 'indicator');
    const creates = frames.filter((frame) => frame.event === 'create');
    assert.ok(indicators.length > 0 && creates.length > indicators.length);
    const [ingesterPort, dispatcherPort] = [await freePort(), await freePort()];
    const env = bed.env({
      // default (WEBHOOK_*) takes everything; soar only indicators, with a bearer token; chat only creates.
      DESTINATIONS: 'soar, team-chat',
      DESTINATION_SOAR_URL: soar.url,
      DESTINATION_SOAR_AUTH_TYPE: 'BEARER',
      DESTINATION_SOAR_TOKEN: 'soar-secret-token',
      DESTINATION_SOAR_ENTITY_TYPES: 'indicator',
      DESTINATION_TEAM_CHAT_URL: chat.url,
      DESTINATION_TEAM_CHAT_EVENT_TYPES: 'create',
      DESTINATION_TEAM_CHAT_CONSUMER_COUNT: '2',
      METRICS_ENABLE: 'true',
      METRICS_ADDR: '127.0.0.1',
    });
    await startProcess('ingester', { ...env, METRICS_PORT: String(ingesterPort) });
    await startProcess('dispatcher', { ...env, METRICS_PORT: String(dispatcherPort) });

    await waitFor(() => (bed.receiver.delivered().length >= frames.length && soar.delivered().length >= indicators.length && chat.delivered().length >= creates.length ? true : undefined), {
      timeoutMs: 30_000,
      what: 'every destination to get its events',
    });
    assert.deepEqual(bodies(bed.receiver), frames.map((frame) => frame.data).sort());
    assert.deepEqual(bodies(soar), indicators.map((frame) => frame.data).sort());
    assert.deepEqual(bodies(chat), creates.map((frame) => frame.data).sort());
    assert.ok(soar.requests.every((request) => request.headers.authorization === 'Bearer soar-secret-token'));
    assert.ok([...bed.receiver.requests, ...chat.requests].every((request) => request.headers.authorization === undefined), 'credentials stay with their destination');

    // Filtered before queueing: a destination's queue holds only its own events.
    const redis = bed.redis.client();
    for (const [name, expected] of [['default', frames.length], ['soar', indicators.length], ['team-chat', creates.length]] as const) {
      const queue = new Queue(destinationKeys(env.CONNECTOR_ID!, name).queueName, { connection: redis, prefix: queuePrefix(env.CONNECTOR_ID!) });
      assert.equal((await queuedEvents(queue, ['completed'])).length, expected, name);
      await queue.close();
    }
    const ingesterText = await scrapeMetrics(ingesterPort);
    assert.equal(metricValue(ingesterText, 'opencti_webhook_events_filtered_total{reason="entity_type",destination="soar"}'), frames.length - indicators.length);
    assert.equal(metricValue(ingesterText, 'opencti_webhook_events_filtered_total{reason="event_type",destination="team-chat"}'), frames.length - creates.length);
    const dispatcherText = await scrapeMetrics(dispatcherPort);
    const delivered = (destination: string) =>
      ['create', 'update'].reduce((sum, action) => sum + metricValue(dispatcherText, `processed_messages_total{name="Webhook test",action="${action}",destination="${destination}"}`), 0);
    assert.deepEqual([delivered('default'), delivered('soar'), delivered('team-chat')], [frames.length, indicators.length, creates.length]);
  });
});

describe('a destination that is down', () => {
  let bed: TestBed;
  let down: RecordingReceiver;
  before(async () => {
    bed = await startTestBed();
    down = await RecordingReceiver.start();
  });
  after(async () => {
    await down?.close();
    await bed?.close();
  });

  it('holds nothing up for the others, and gets every event once it is back', async () => {
    down.setFaults(() => ({ status: 503 }));
    const env = bed.env({
      DESTINATIONS: 'down',
      DESTINATION_DOWN_URL: down.url,
      DESTINATION_DOWN_OUTAGE_FAILURE_THRESHOLD: '3',
      DESTINATION_DOWN_PROBE_INITIAL_DELAY_MS: '200',
      DESTINATION_DOWN_PROBE_MAX_DELAY_MS: '500',
    });
    const port = await freePort();
    await startProcess('ingester', env);
    await startProcess('dispatcher', { ...env, METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1', METRICS_PORT: String(port) });
    const first = bed.emulator.publishMany(40, (i) => ({ entityType: KINDS[i % 5] }));
    await waitFor(() => (bed.receiver.delivered().length >= first.length ? true : undefined), { timeoutMs: 20_000, what: 'the healthy destination to get the first events' });
    // The down destination's breaker opens; the healthy one keeps delivering new events meanwhile.
    const breakerOpen = async () => (await bed.redis.client().hget(destinationKeys(env.CONNECTOR_ID!, 'down').endpoint, 'state')) === 'open' || undefined;
    await waitFor(breakerOpen, { timeoutMs: 20_000, what: "the down destination's breaker to open" });
    const second = bed.emulator.publishMany(40, (i) => ({ entityType: KINDS[i % 5] }));
    await waitFor(() => (bed.receiver.delivered().length >= first.length + second.length ? true : undefined), { timeoutMs: 20_000, what: 'the healthy destination to get the events sent during the outage' });
    assert.equal(down.delivered().length, 0);
    // Still ready (it is doing its job), and /readyz says which destination is out.
    const readyz = await request(`http://127.0.0.1:${port}/readyz`);
    const status = (await readyz.body.json()) as { ready: boolean; destinations: Record<string, string> };
    assert.equal(readyz.statusCode, 200);
    assert.equal(status.destinations.default, 'delivering');
    assert.ok(['paused', 'probing'].includes(status.destinations.down!), JSON.stringify(status));
    assert.equal(await bed.redis.client().hget(destinationKeys(env.CONNECTOR_ID!, 'default').endpoint, 'state'), null, "the healthy destination's breaker never opened");

    down.setFaults(undefined);
    const all = [...first, ...second].map((frame) => frame.data).sort();
    await waitFor(() => (down.delivered().length >= all.length ? true : undefined), { timeoutMs: 30_000, what: 'the destination that came back to get every event' });
    assert.deepEqual([...new Set(bodies(down))].sort(), all);
    assert.deepEqual(bodies(bed.receiver), all);
  });
});
