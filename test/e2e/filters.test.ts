/**
 * WEBHOOK_EVENT_TYPES and WEBHOOK_ENTITY_TYPES with the real processes, applied by the ingester before queueing.
 * Oracle: the receiver gets exactly the events on both allow-lists (worked
 * out here by parsing each frame); the others complete without a request and
 * are counted in opencti_webhook_events_filtered_total, never in
 * processed_messages_total.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { QUEUE_NAME, queuePrefix } from '../../shared/queue/contract.js';
import type { EntityKind } from '../helpers/stix-fixtures.js';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';
import { startProcess } from '../helpers/processes.js';
import { queuedEvents } from '../helpers/queued-events.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

const EVENTS = ['create', 'update', 'delete', 'merge'] as const;
const KINDS: EntityKind[] = ['indicator', 'malware', 'report', 'identity', 'relationship'];

describe('event filters', () => {
  let bed: TestBed;
  before(async () => {
    bed = await startTestBed();
  });
  after(() => bed?.close());

  it('send only the listed event names and STIX types, and acknowledge the rest', async () => {
    const frames = bed.emulator.publishMany(60, (i) => ({ event: EVENTS[i % 4], entityType: KINDS[i % 5] }));
    const stixType = (data: string) => String((JSON.parse(data) as { data: { id: string } }).data.id).split('--')[0];
    const wanted = frames.filter((frame) => ['create', 'update'].includes(frame.event) && ['indicator', 'malware'].includes(stixType(frame.data)!));
    const byEvent = frames.filter((frame) => !['create', 'update'].includes(frame.event)).length;
    const byEntity = frames.length - wanted.length - byEvent;
    assert.ok(wanted.length > 0 && byEntity > 0 && byEvent > 0);

    const [ingesterPort, dispatcherPort] = [await freePort(), await freePort()];
    const env = bed.env({ WEBHOOK_EVENT_TYPES: 'create,update', WEBHOOK_ENTITY_TYPES: 'Indicator, malware', METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1' });
    await startProcess('ingester', { ...env, METRICS_PORT: String(ingesterPort) });
    await startProcess('dispatcher', { ...env, METRICS_PORT: String(dispatcherPort) });

    // Filtered before queueing: only the wanted events ever become jobs.
    await waitFor(async () => (bed.receiver.requests.length >= wanted.length && (await scrapeMetrics(ingesterPort)).includes('current_state') ? true : undefined), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: `${wanted.length} events sent`,
    });
    const ingesterText = await waitFor(
      async () => {
        const text = await scrapeMetrics(ingesterPort);
        const counted = metricValue(text, 'opencti_webhook_events_filtered_total{reason="event_type",destination="default"}') + metricValue(text, 'opencti_webhook_events_filtered_total{reason="entity_type",destination="default"}');
        return counted === byEvent + byEntity ? text : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'every filtered event counted' },
    );
    const queue = new Queue(QUEUE_NAME, { connection: bed.redis.client(), prefix: queuePrefix(env.CONNECTOR_ID!) });
    const queued = await queuedEvents(queue, ['waiting', 'active', 'delayed', 'failed', 'completed']);
    await queue.close();
    assert.equal(queued.length, wanted.length, 'only the events the filters take are queued');
    const sent = bed.receiver.requests.map((request) => `${request.headers['x-opencti-event-id']} ${request.body}`).sort();
    assert.deepEqual(sent, wanted.map((frame) => `${frame.id} ${frame.data}`).sort());
    assert.equal(metricValue(ingesterText, 'opencti_webhook_events_filtered_total{reason="event_type",destination="default"}'), byEvent);
    assert.equal(metricValue(ingesterText, 'opencti_webhook_events_filtered_total{reason="entity_type",destination="default"}'), byEntity);
    const dispatcherText = await scrapeMetrics(dispatcherPort);
    const processed = EVENTS.reduce((sum, action) => sum + metricValue(dispatcherText, `processed_messages_total{name="Webhook test",action="${action}",destination="default"}`), 0);
    assert.equal(processed, wanted.length);
  });
});

describe('event filters in the dispatcher', () => {
  let bed: TestBed;
  before(async () => {
    bed = await startTestBed();
  });
  after(() => bed?.close());

  it('are checked again: events queued before a filter was set are acknowledged without a request', async () => {
    const frames = bed.emulator.publishMany(20, (i) => ({ event: EVENTS[i % 4], entityType: 'indicator' }));
    const wanted = frames.filter((frame) => frame.event === 'create');
    const port = await freePort();
    const env = bed.env({ METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1', METRICS_PORT: String(port) });
    await startProcess('ingester', { ...env, METRICS_ENABLE: 'false' });
    await startProcess('dispatcher', { ...env, WEBHOOK_EVENT_TYPES: 'create' });
    const text = await waitFor(
      async () => {
        const scraped = await scrapeMetrics(port);
        return metricValue(scraped, 'opencti_webhook_events_filtered_total{reason="event_type",destination="default"}') === frames.length - wanted.length ? scraped : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the dispatcher to filter the events queued unfiltered' },
    );
    await waitFor(() => (bed.receiver.requests.length >= wanted.length ? true : undefined), { timeoutMs: 10_000, what: `${wanted.length} creates sent` });
    assert.deepEqual(bed.receiver.requests.map((request) => request.body).sort(), wanted.map((frame) => frame.data).sort());
    assert.ok(metricValue(text, 'opencti_webhook_events_filtered_total{reason="event_type",destination="default"}') > 0);
  });
});

describe('marking exclusion', () => {
  let bed: TestBed;
  before(async () => {
    bed = await startTestBed();
  });
  after(() => bed?.close());

  it('never sends an event marked with an excluded marking, sends the others, and counts them', async () => {
    const frames = bed.emulator.publishMany(40, (i) => ({
      event: i % 4 === 3 ? 'update' : 'create',
      entityType: KINDS[i % 5],
      sharedDependencyKeys: [i % 3 === 0 ? 'tlp-red' : 'tlp-green'],
    }));
    const red = frames.map((frame) => JSON.parse(frame.data) as { data: { id: string; name?: string } }).find(({ data }) => data.name === 'TLP:RED')!.data.id;
    const marked = (frame: { data: string }) => {
      const { data, context } = JSON.parse(frame.data) as { data: { object_marking_refs?: string[] }; context?: { reverse_patch?: unknown } };
      return (data.object_marking_refs ?? []).includes(red) || JSON.stringify(context?.reverse_patch ?? []).includes(red);
    };
    // Each main frame is queued; a shared marking definition only the first time a connection meets it.
    const main = frames.filter((frame) => !frame.data.includes('"init-dependencies"'));
    assert.ok(main.some(marked) && !main.every(marked), 'some events marked, some not');

    const port = await freePort();
    const env = bed.env({ WEBHOOK_MARKINGS_EXCLUDE: `${red}, TLP:AMBER+STRICT`, METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1', METRICS_PORT: String(port) });
    await startProcess('ingester', env);
    await startProcess('dispatcher', { ...env, METRICS_ENABLE: 'false' });

    const wanted = main.filter((frame) => !marked(frame));
    const held = main.length - wanted.length;
    const text = await waitFor(
      async () => {
        const scraped = await scrapeMetrics(port);
        const sent = new Set(bed.receiver.requests.map((request) => request.body));
        return metricValue(scraped, 'opencti_webhook_events_filtered_total{reason="marking",destination="default"}') === held && wanted.every((frame) => sent.has(frame.data)) ? scraped : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `${wanted.length} events sent and ${held} held back` },
    );
    // Bodies, not ids: a packed event's queue id is not its stream id.
    const mainBodies = new Set(main.map((frame) => frame.data));
    const sent = bed.receiver.requests.map((request) => request.body);
    assert.deepEqual(sent.filter((body) => mainBodies.has(body)).sort(), wanted.map((frame) => frame.data).sort());
    assert.ok(sent.every((body) => !marked({ data: body })));
    assert.ok(sent.some((body) => body.includes(red) && !mainBodies.has(body)), 'the marking definition itself is sent');
    assert.equal(metricValue(text, 'opencti_webhook_events_filtered_total{reason="marking",destination="default"}'), held);
});
});
