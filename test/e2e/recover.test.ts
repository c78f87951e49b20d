/**
 * Recover mode, the default on a first start (pycti parity): the platform
 * sends the current state of every object changed up to the recover date,
 * with ids `<updated_at ms>-0` shared by objects updated in the same
 * millisecond, then the live events after that date. Doubles: the OpenCTI
 * emulator, a recording receiver, a throwaway redis-server; real processes.
 * Oracles: every distinct frame the emulator sent is delivered / enqueued
 * exactly once, across drops and a SIGKILL in the middle of the snapshot.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { PACK_JOB_NAME, QUEUE_NAME, queuePrefix, type EventJob } from '../../shared/queue/contract.js';
import { expectedDeliveries } from '../helpers/oracle.js';
import { startProcess } from '../helpers/processes.js';
import { queuedEvents } from '../helpers/queued-events.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

/** Recover date of a stream request, in epoch ms. */
function recoverMs(path: string): number {
  const match = /\?recover=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$/.exec(path);
  assert.ok(match, `no ?recover=<UTC seconds> in ${path}`);
  return Date.parse(match[1]!);
}

const idMs = (id: string) => Number(id.split('-')[0]);

/**
 * The recover date is "now" to the second (pycti's format): the ingester must
 * start in a later second than the history it should recover, or that
 * history falls after the recover date and comes as live events instead.
 */
async function nextSecond(): Promise<void> {
  const second = Math.floor(Date.now() / 1000);
  await waitFor(() => Math.floor(Date.now() / 1000) > second || undefined, { timeoutMs: 2_000, what: 'the next second' });
}
const referer = (data: string) => (JSON.parse(data) as { origin?: { referer?: string } }).origin?.referer;

describe('recover mode', () => {
  // A bed per test: the emulator's database (what a snapshot holds) must start empty.
  let bed: TestBed;
  beforeEach(async () => {
    bed = await startTestBed();
  });
  afterEach(() => bed?.close());

  // Unset: recover up to "now" on the first start.
  const recoverByDefault = { CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE: '' };

  it('delivers the snapshot, then the live events, each once; a restart goes on without recovering again', async () => {
    const { emulator, receiver } = bed;
    emulator.publishMany(200, (i) => ({ event: (['create', 'create', 'update', 'delete'] as const)[i % 4], dependencies: i % 5 === 0 ? 2 : 0 }));
    await nextSecond();
    const env = bed.env(recoverByDefault);
    const startedAt = Date.now();
    const ingester = await startProcess('ingester', env);
    await startProcess('dispatcher', env);
    emulator.publishMany(100);

    const first = emulator.requests[0]!;
    const recoverUntil = recoverMs(first.path);
    assert.equal(first.lastEventId, '0-0');
    assert.ok(recoverUntil > startedAt - 2_000 && recoverUntil <= Date.now(), 'recover date is not "now"');
    const allDelivered = async (what: string) => {
      const expected = expectedDeliveries(emulator.sentFrames());
      await receiver.waitForCount(expected.size, 30_000);
      const delivered = receiver.delivered().map((r) => `${r.headers['x-opencti-event-id']}\n${r.headers['x-opencti-event']}\n${r.body}`);
      assert.equal(new Set(delivered).size, delivered.length, `${what}: an event was delivered twice`);
      assert.deepEqual(new Set(delivered), new Set(expected.keys()), what);
    };
    await waitFor(() => emulator.sentFrames().filter((f) => idMs(f.id) > recoverUntil).length >= 100, { timeoutMs: 15_000, what: 'the live events sent' });
    await allDelivered('snapshot then live');

    const sent = emulator.sentFrames();
    const snapshot = sent.filter((f) => idMs(f.id) <= recoverUntil);
    assert.ok(snapshot.length > 50, `snapshot of ${snapshot.length} frames`);
    assert.ok(snapshot.every((f) => f.event === 'create' && ['init-create', 'init-dependencies'].includes(referer(f.data) ?? '')), 'the snapshot holds recovery frames only');
    const bodies = new Set(receiver.delivered().map((r) => r.body));
    // Dependency frames carry the same bytes in both; the events themselves differ.
    const replayed = emulator.mainFrames().filter((f) => idMs(f.id) <= recoverUntil && bodies.has(f.data));
    assert.equal(replayed.length, 0, 'history before the recover date was replayed instead of recovered');

    // The recover date is kept, whatever the setting says now: a restart asks
    // for the same one, from a position past it.
    await ingester.kill('SIGTERM');
    const recoveredFrames = snapshot.length;
    await startProcess('ingester', { ...env, CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE: '2030-01-01T00:00:00Z' });
    emulator.publishMany(20);
    await waitFor(() => emulator.sentFrames().length >= sent.length + 20, { timeoutMs: 10_000, what: 'events after the restart' });
    await allDelivered('after the restart');
    const again = emulator.requests.at(-1)!;
    assert.equal(recoverMs(again.path), recoverUntil);
    assert.ok(idMs(again.lastEventId!) >= recoverUntil, `resumed from ${again.lastEventId}`);
    assert.equal(emulator.sentFrames().filter((f) => idMs(f.id) <= recoverUntil).length, recoveredFrames, 'recovered again');
  });

  it('loses nothing and queues nothing twice when the connection drops and the ingester is killed in the middle of the snapshot', async () => {
    const { emulator, redis } = bed;
    // Thousands of objects created within a few milliseconds: snapshot groups share ids.
    emulator.publishMany(2_000, (i) => ({ dependencies: i % 10 === 0 ? 2 : 0, size: 400 }));
    await nextSecond();
    const env = bed.env(recoverByDefault);
    const queue = new Queue<EventJob>(QUEUE_NAME, { connection: { url: redis.url }, prefix: queuePrefix(env.CONNECTOR_ID!) });
    try {
      const connections = emulator.acceptedConnections;
      const sentBefore = emulator.sentCount;
      emulator.dropAfterFrames(500, 'next');
      const ingester = await startProcess('ingester', env);
      await emulator.waitForConnections(connections + 2, 15_000);
      await emulator.waitUntil(() => emulator.sentCount >= sentBefore + 1_200, 15_000, '1,200 snapshot frames sent');
      emulator.pause();
      await ingester.kill('SIGKILL');
      emulator.resume();
      await startProcess('ingester', env);
      await emulator.waitForConnections(connections + 3, 15_000);
      emulator.publishMany(50);

      const requests = emulator.requests;
      assert.equal(requests.length, 3, 'connections: first, after the drop, after the restart');
      const recoverUntil = recoverMs(requests[0]!.path);
      for (const request of requests.slice(1)) {
        assert.equal(recoverMs(request.path), recoverUntil);
        assert.ok(idMs(request.lastEventId!) > 0 && idMs(request.lastEventId!) <= recoverUntil, `resumed from ${request.lastEventId}: not in the middle of the snapshot`);
      }
      const fresh = () => emulator.sentFrames().slice(sentBefore);
      // Events, not jobs: the ingester packs consecutive events into one job (INGESTER_EVENTS_PER_JOB).
      const eventCount = async () => (await queuedEvents(queue, ['waiting'])).length;
      await waitFor(() => fresh().filter((f) => idMs(f.id) > recoverUntil).length >= 50, { timeoutMs: 15_000, what: 'the live events sent' });
      await waitFor(async () => (await eventCount()) >= expectedDeliveries(fresh()).size, { timeoutMs: 30_000, intervalMs: 100, what: 'every frame enqueued' });

      const expected = expectedDeliveries(fresh());
      const events = await queuedEvents(queue, ['waiting']);
      // Per event, across jobs: a pack of new ids around an event already queued would not be a duplicate job to BullMQ.
      const ids = new Set(events.map((event) => event.id));
      assert.equal(events.length, ids.size, `${events.length - ids.size} events are in two jobs`);
      const enqueued = new Set(events.map(({ data }) => `${data.streamId}\n${data.event}\n${data.body}`));
      assert.equal(events.length, enqueued.size, 'two events carry the same frame');
      assert.deepEqual([...expected.keys()].filter((key) => !enqueued.has(key)), [], 'gap');
      assert.equal(events.length, expected.size);
      assert.ok(events.some(({ job }) => job.name === PACK_JOB_NAME), 'no pack queued: packing is not covered');
      const log = await redis.client().xrange(`${queuePrefix(env.CONNECTOR_ID!)}:${QUEUE_NAME}:events`, '-', '+');
      assert.equal(log.filter(([, fields]) => fields[1] === 'duplicated').length, 0, 'a job was enqueued twice');
    } finally {
      emulator.resume();
      await queue.close();
    }
  });
});
