/**
 * Packs (INGESTER_EVENTS_PER_JOB): consecutive events share one queue job, yet
 * each keeps its own delivery, webhook-id, retries and dead letter, and a pack
 * taken over after a crash does not deliver again what it had settled.
 * Doubles: stream emulator, recording receiver scripted to fail, throwaway
 * redis-server; real ingester and dispatcher processes.
 * Oracles: the receiver's records and the jobs in Redis.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Queue, type Job } from 'bullmq';
import { PACK_JOB_NAME, PackJobSchema, QUEUE_NAME, queuePrefix, settledEvents, type EventJob } from '../../shared/queue/contract.js';
import { startProcess } from '../helpers/processes.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

const FAST_RETRIES = { WEBHOOK_RETRY_BASE_DELAY_MS: '100', WEBHOOK_RETRY_MAX_DELAY_MS: '200' };

describe('packs of events', () => {
  let bed: TestBed | undefined;
  afterEach(() => bed?.close());

  /** A bed whose stream already holds `count` events, so the ingester reads them in one commit and packs them all in one job. */
  async function setUp(count: number, overrides: Record<string, string>) {
    bed = await startTestBed();
    const env = bed.env({ ...FAST_RETRIES, INGESTER_EVENTS_PER_JOB: String(count), ...overrides });
    const frames = bed.emulator.publishMany(count);
    const queue = new Queue(QUEUE_NAME, { connection: bed.redis.client({ maxRetriesPerRequest: null }), prefix: queuePrefix(env.CONNECTOR_ID!) });
    return { bed, env, ids: frames.map((f) => f.id), queue };
  }

  /** The pack jobs in `states`, with the SSE ids of their events. */
  async function packs(queue: Queue, states: Array<'waiting' | 'active' | 'completed'>): Promise<Array<{ job: Job; streamIds: string[] }>> {
    const jobs = (await queue.getJobs(states)).filter((job) => job.name === PACK_JOB_NAME);
    return jobs.map((job) => ({ job, streamIds: PackJobSchema.parse(job.data).events.map((e) => e.streamId) }));
  }

  it('POSTs each event alone with its own webhook-id; one that fails leaves the pack and is retried as its own job', async (t) => {
    const { bed, env, ids, queue } = await setUp(10, { CONNECTOR_CONSUMER_COUNT: '1' });
    t.after(() => queue.close());
    const flaky = ids[4]!;
    let failures = 0;
    bed.receiver.setFaults((req) => (req.headers['x-opencti-event-id'] === flaky && failures++ === 0 ? { status: 500 } : undefined));
    await startProcess('ingester', env);
    await startProcess('dispatcher', env);
    await waitFor(() => bed.receiver.deliveredIds().size === 10 || undefined, { timeoutMs: 20_000, what: '10 events delivered' });

    // Each request carried one event, under a webhook-id of its own; only the flaky one was sent twice.
    const requests = bed.receiver.requests;
    assert.equal(requests.length, 11);
    assert.equal(new Set(requests.map((r) => r.headers['webhook-id'])).size, 10);
    for (const r of requests) assert.ok(String(r.headers['webhook-id']).startsWith(`${r.headers['x-opencti-event-id']}-`), 'webhook-id is not the event id');
    const flakyRequests = requests.filter((r) => r.headers['x-opencti-event-id'] === flaky);
    assert.deepEqual(flakyRequests.map((r) => r.status), [500, 200]);
    assert.equal(flakyRequests[0]!.headers['webhook-id'], flakyRequests[1]!.headers['webhook-id']);

    // The flaky event left its pack for a job whose id is its webhook-id; the pack says so.
    const flakyWebhookId = String(flakyRequests[0]!.headers['webhook-id']);
    const own = await waitFor(async () => ((await queue.getJobState(flakyWebhookId)) === 'completed' ? queue.getJob(flakyWebhookId) : undefined), { timeoutMs: 5_000, what: 'the flaky event completed as its own job' });
    assert.equal((own.data as EventJob).streamId, flaky);
    assert.equal(own.attemptsMade, 1, 'its own job delivered it at its first attempt');
    const [pack] = (await packs(queue, ['completed'])).filter((p) => p.streamIds.includes(flaky));
    assert.ok(pack, 'the flaky event was not in a pack');
    assert.deepEqual(pack.job.returnvalue, { done: pack.streamIds.length - 1, unpacked: 1 });
  });

  it('dead-letters a failing event alone, with its own attempts, and delivers the rest of its pack once', async (t) => {
    const { bed, env, ids, queue } = await setUp(10, { WEBHOOK_RETRY_ATTEMPTS: '2' });
    t.after(() => queue.close());
    const poison = ids[3]!;
    bed.receiver.setFaults((req) => (req.headers['x-opencti-event-id'] === poison ? { status: 500, body: 'poison' } : undefined));
    await startProcess('ingester', env);
    const dispatcher = await startProcess('dispatcher', env);
    const gaveUp = await dispatcher.waitForLog((line) => line.msg === 'delivery.gave_up', 20_000, 'delivery.gave_up');
    await waitFor(() => bed.receiver.deliveredIds().size === 9 || undefined, { timeoutMs: 10_000, what: '9 events delivered' });

    const failed = await queue.getJobs(['failed']);
    assert.equal(failed.length, 1);
    const [dead] = failed;
    assert.equal(dead!.id, gaveUp.jobId);
    assert.equal(dead!.name, (dead!.data as EventJob).event);
    assert.equal((dead!.data as EventJob).streamId, poison);
    assert.equal(dead!.attemptsMade, 2, 'the dead letter made its own WEBHOOK_RETRY_ATTEMPTS');
    assert.match(dead!.failedReason, /^webhook: HTTP 500: poison/);
    // 1 attempt in the pack + 2 of its own; the others once each.
    assert.equal(bed.receiver.requests.filter((r) => r.headers['x-opencti-event-id'] === poison).length, 3);
    assert.ok([...bed.receiver.deliveredIds().values()].every((n) => n === 1), 'an event was delivered twice');
  });

  it('sends a pack\'s events side by side, as many at once as CONNECTOR_CONSUMER_COUNT and never more, across packs', async (t) => {
    const { bed, env, queue } = await setUp(40, { INGESTER_EVENTS_PER_JOB: '20', CONNECTOR_CONSUMER_COUNT: '5' });
    t.after(() => queue.close());
    bed.receiver.setFaults(() => ({ delayMs: 150 }));
    await startProcess('ingester', env);
    await startProcess('dispatcher', env);
    await waitFor(() => bed.receiver.deliveredIds().size === 40 || undefined, { timeoutMs: 20_000, what: '40 events delivered' });
    const completed = await waitFor(async () => {
      const done = await packs(queue, ['completed']);
      return done.length === 2 ? done : undefined;
    }, { timeoutMs: 5_000, what: 'the two packs completed' });
    assert.deepEqual(completed.map((p) => p.streamIds.length), [20, 20], 'the events were queued as two packs');
    // Were each pack's events sent one after the other in one slot, two packs would never have had more than 2 in flight.
    assert.equal(bed.receiver.peakInFlight, 5, 'requests in flight at once');
    assert.equal(bed.receiver.requests.length, 40);
  });

  it('a pack taken over after a crash skips every event it had settled, in whatever order they settled', async (t) => {
    const { bed, env, ids, queue } = await setUp(20, { CONNECTOR_CONSUMER_COUNT: '3' });
    t.after(() => queue.close());
    // The second event hangs the first time: the others settle past it, so the settled events are no longer the first n.
    const slow = ids[1]!;
    let slowSeen = 0;
    bed.receiver.setFaults((req) => (req.headers['x-opencti-event-id'] === slow && slowSeen++ === 0 ? { delayMs: 60_000 } : { delayMs: 50 }));
    await startProcess('ingester', env);
    const first = await startProcess('dispatcher', env);
    const packId = await waitFor(async () => {
      const [held] = await packs(queue, ['active']);
      if (!held) return undefined;
      const settled = settledEvents((await queue.getJob(held.job.id!))?.progress, 20);
      return !settled[1] && settled.filter(Boolean).length >= 6 ? held.job.id! : undefined;
    }, { timeoutMs: 10_000, what: 'the pack\'s progress in Redis: 6 events settled past the hanging second one' });
    await first.kill('SIGKILL');
    const settled = settledEvents((await queue.getJob(packId))!.progress, 20);
    const sentBefore = bed.receiver.requests.length;
    await startProcess('dispatcher', env);
    await waitFor(() => bed.receiver.deliveredIds().size === 20 || undefined, { timeoutMs: 30_000, what: '20 events delivered after the restart' });
    const resent = bed.receiver.requests.slice(sentBefore).map((r) => String(r.headers['x-opencti-event-id']));
    assert.deepEqual(new Set(resent), new Set(ids.filter((_, index) => !settled[index])), 'the restart sent exactly the events the progress did not settle');
    assert.equal(resent.length, new Set(resent).size, 'an event was sent twice after the restart');
  });

  it('a pack taken over after a crash starts after the events it had settled (the numeric progress of older dispatchers)', async (t) => {
    const { bed, env, ids, queue } = await setUp(10, {});
    t.after(() => queue.close());
    const ingester = await startProcess('ingester', env);
    const [pack] = await waitFor(async () => {
      const waiting = await packs(queue, ['waiting']);
      return waiting.length === 1 && waiting[0]!.streamIds.length === 10 ? waiting : undefined;
    }, { timeoutMs: 10_000, what: 'the 10 events waiting in one pack' });
    await ingester.kill('SIGTERM');
    // What a dispatcher of 1.0.0-rc.1 killed after settling 6 events leaves behind.
    await pack!.job.updateProgress(6);
    await startProcess('dispatcher', env);
    await waitFor(async () => ((await queue.getJobState(pack!.job.id!)) === 'completed' ? true : undefined), { timeoutMs: 10_000, what: 'the pack completed' });
    assert.deepEqual(bed.receiver.requests.map((r) => r.headers['x-opencti-event-id']), ids.slice(6));
  });

  it('a dispatcher shutting down hands the rest of its pack over at once, without waiting for its lock to expire', async (t) => {
    // 17 events left × 200 ms outlast the shutdown deadline: without the handover the process would exit with the pack locked.
    const { bed, env, ids, queue } = await setUp(20, { CONNECTOR_CONSUMER_COUNT: '1', DISPATCHER_LOCK_DURATION_MS: '30000', CONNECTOR_SHUTDOWN_TIMEOUT_MS: '1000' });
    t.after(() => queue.close());
    bed.receiver.setFaults(() => ({ delayMs: 200 }));
    await startProcess('ingester', env);
    const first = await startProcess('dispatcher', env);
    await bed.receiver.waitForCount(3, 10_000);
    const [held] = await packs(queue, ['active']);
    assert.ok(held, 'the pack is being delivered');
    const exit = await first.kill('SIGTERM');
    assert.equal(exit.code, 0);
    // Handed over: back in the queue, not left active under a lock for its expiry (or a restart's reclaim) to free.
    assert.notEqual(await queue.getJobState(held.job.id!), 'active');
    await startProcess('dispatcher', env);
    await waitFor(() => bed.receiver.deliveredIds().size === 20 || undefined, { timeoutMs: 20_000, what: '20 events delivered' });
    assert.deepEqual(bed.receiver.requests.map((r) => r.headers['x-opencti-event-id']), ids, 'an event was sent twice or out of order');
  });
});
