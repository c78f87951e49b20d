/**
 * WEBHOOK_EVENT_TYPES and WEBHOOK_ENTITY_TYPES with the real processes.
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

    const port = await freePort();
    const env = bed.env({
      WEBHOOK_EVENT_TYPES: 'create,update',
      WEBHOOK_ENTITY_TYPES: 'Indicator, malware',
      METRICS_ENABLE: 'true',
      METRICS_ADDR: '127.0.0.1',
      METRICS_PORT: String(port),
    });
    await startProcess('ingester', { ...env, METRICS_ENABLE: 'false' });
    await startProcess('dispatcher', env);

    // Every event acknowledged, sent or filtered out. Counted in events, not jobs:
    // the ingester packs consecutive events into one job (INGESTER_EVENTS_PER_JOB).
    const queue = new Queue(QUEUE_NAME, { connection: bed.redis.client(), prefix: queuePrefix(env.CONNECTOR_ID!) });
    const completedJobs = await waitFor(
      async () => {
        const events = await queuedEvents(queue, ['completed']);
        return events.length === frames.length ? new Set(events.map(({ job }) => job.id)).size : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `${frames.length} completed events` },
    );
    await queue.close();
    const text = await scrapeMetrics(port);
    assert.equal(metricValue(text, 'opencti_webhook_queue_jobs{state="completed"}'), completedJobs);
    const sent = bed.receiver.requests.map((request) => `${request.headers['x-opencti-event-id']} ${request.body}`).sort();
    assert.deepEqual(sent, wanted.map((frame) => `${frame.id} ${frame.data}`).sort());
    assert.equal(metricValue(text, 'opencti_webhook_events_filtered_total{reason="event_type"}'), byEvent);
    assert.equal(metricValue(text, 'opencti_webhook_events_filtered_total{reason="entity_type"}'), byEntity);
    const processed = EVENTS.reduce((sum, action) => sum + metricValue(text, `processed_messages_total{name="Webhook test",action="${action}"}`), 0);
    assert.equal(processed, wanted.length);
    for (const state of ['waiting', 'active', 'delayed', 'failed']) assert.equal(metricValue(text, `opencti_webhook_queue_jobs{state="${state}"}`), 0, state);
  });
});

/**
 * WEBHOOK_MARKINGS_EXCLUDE with the real processes. The emulator's markings
 * have ids of its own (not OpenCTI's), so the setting names the emulator's
 * "TLP:RED" by id. Oracle: an event is held back when its object carries
 * that id, or carried it before the update (reverse_patch); the marking
 * definition's own event, which names the id as data.id, is sent.
 */
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
    await startProcess('ingester', { ...env, METRICS_ENABLE: 'false' });
    await startProcess('dispatcher', env);

    // Done when every main frame completed (sent or held back) and nothing is left in the queue.
    const queue = new Queue(QUEUE_NAME, { connection: bed.redis.client(), prefix: queuePrefix(env.CONNECTOR_ID!) });
    const completed = await waitFor(
      async () => {
        const bodies = (await queuedEvents(queue, ['completed'])).map(({ data }) => ({ data: data.body }));
        const pending = (await queuedEvents(queue, ['waiting', 'active', 'delayed', 'failed'])).length;
        return pending === 0 && main.every((frame) => bodies.some(({ data }) => data === frame.data)) ? bodies : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `${main.length} main events completed` },
    );
    await queue.close();
    const wanted = completed.filter((event) => !marked(event));
    const held = completed.length - wanted.length;
    assert.ok(wanted.some((event) => event.data.includes(red)), 'the marking definition itself is sent');
    const text = await scrapeMetrics(port);
    // Bodies, not ids: a packed event's queue id is not its stream id.
    assert.deepEqual(bed.receiver.requests.map((request) => request.body).sort(), wanted.map((event) => event.data).sort());
    assert.ok(bed.receiver.requests.every((request) => !marked({ data: request.body })));
    assert.equal(metricValue(text, 'opencti_webhook_events_filtered_total{reason="marking"}'), held);
  });
});
