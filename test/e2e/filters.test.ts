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
