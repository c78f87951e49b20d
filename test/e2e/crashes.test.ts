/**
 * Process crashes. Doubles: the OpenCTI stream emulator, a recording
 * receiver, a throwaway redis-server; the ingester and dispatcher are the
 * real built processes, killed with SIGKILL.
 * Oracles: the queue's contents and BullMQ's event log (ingester), and the
 * receiver's 2xx answers (dispatcher). Every distinct frame the emulator
 * wrote must end up enqueued once / delivered at least once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { PACK_JOB_NAME, QUEUE_NAME, queuePrefix, type EventJob } from '../../shared/queue/contract.js';
import { pipelineEnv } from '../helpers/factories.js';
import { expectedDeliveries } from '../helpers/oracle.js';
import { queuedEvents } from '../helpers/queued-events.js';
import { startProcess, stopAll } from '../helpers/processes.js';
import { RecordingReceiver } from '../helpers/recording-receiver.js';
import { RedisServer } from '../helpers/redis-server.js';
import { StreamEmulator } from '../helpers/stream-emulator.js';
import { waitFor } from '../helpers/wait.js';

describe('crashes', () => {
  let redis: RedisServer;
  let receiver: RecordingReceiver;

  before(async () => {
    redis = await RedisServer.start({ appendonly: true });
    receiver = await RecordingReceiver.start();
  });

  after(async () => {
    await stopAll();
    await receiver?.close();
    await redis?.stop();
  });

  it('an ingester SIGKILLed mid-stream and restarted leaves no gap and no duplicate job', async () => {
    const emulator = await StreamEmulator.start({ heartbeatIntervalMs: 100 });
    const env = pipelineEnv({ redisUrl: redis.url, openctiUrl: emulator.url, webhookUrl: receiver.url });
    const queue = new Queue<EventJob>(QUEUE_NAME, { connection: { url: redis.url }, prefix: queuePrefix(env.CONNECTOR_ID!) });
    let publisher: NodeJS.Timeout | undefined;
    try {
      // Frames keep coming while the ingester is killed, several of them in
      // groups sharing one id (dependencies), so kills land mid-group too.
      let published = 0;
      publisher = setInterval(() => {
        if (published >= 3_000) return clearInterval(publisher);
        emulator.publishMany(10, (i) => ({ dependencies: (published + i) % 3 === 0 ? 2 : 0 }));
        published += 10;
      }, 10);
      // Events, not jobs: the ingester packs consecutive events into one job (INGESTER_EVENTS_PER_JOB).
      const eventCount = async () => (await queuedEvents(queue, ['waiting'])).length;

      for (let round = 0; round < 3; round += 1) {
        const ingester = await startProcess('ingester', env);
        await ingester.waitForLog((line) => line.msg === 'stream.connected', 10_000, 'stream.connected');
        const target = (await eventCount()) + 200;
        await waitFor(async () => (await eventCount()) >= target, { timeoutMs: 30_000, what: `${target} events enqueued` });
        await ingester.kill('SIGKILL');
      }
      const ingester = await startProcess('ingester', env);
      // Packed commits are quick: the last killed ingester may have queued everything already, and this
      // one must still have connected (and read from the committed position) before the queue is checked.
      await ingester.waitForLog((line) => line.msg === 'stream.connected', 10_000, 'stream.connected');
      await emulator.waitUntil(() => published >= 3_000, 10_000, 'publisher done');
      const expected = () => expectedDeliveries(emulator.sentFrames());
      await waitFor(async () => (await eventCount()) >= expected().size && ingester.logs.length > 0, {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: 'every frame enqueued after the restarts',
      });

      const events = await queuedEvents(queue, ['waiting']);
      // A pack of new ids around an event already queued would not be a
      // duplicate job to BullMQ: the check is per event, across jobs.
      const ids = new Set(events.map((event) => event.id));
      assert.equal(events.length, ids.size, `${events.length - ids.size} events are in two jobs`);
      const enqueued = new Set(events.map(({ data }) => `${data.streamId}\n${data.event}\n${data.body}`));
      assert.equal(events.length, enqueued.size, 'two events carry the same frame');
      const missing = [...expected().keys()].filter((key) => !enqueued.has(key));
      assert.deepEqual(missing.length, 0, `gap: ${missing.length} frames never enqueued`);
      assert.equal(events.length, expected().size);
      assert.ok(events.some(({ job }) => job.name === PACK_JOB_NAME), 'no pack queued: packing is not covered');
      // BullMQ logs an "added" or "duplicated" event per add: the restarted
      // ingester never even tried to enqueue a job twice.
      const client = redis.client();
      const log = await client.xrange(`${queuePrefix(env.CONNECTOR_ID!)}:${QUEUE_NAME}:events`, '-', '+');
      const duplicated = log.filter(([, fields]) => fields[1] === 'duplicated');
      assert.ok(log.some(([, fields]) => fields[1] === 'added'), 'no "added" event: is the events stream read from the right key?');
      assert.equal(duplicated.length, 0, `${duplicated.length} jobs were enqueued twice`);
      assert.ok(emulator.acceptedConnections >= 4, `${emulator.acceptedConnections} stream connections`);
    } finally {
      clearInterval(publisher);
      await queue.close();
      await emulator.close();
    }
  });

  it('a dispatcher SIGKILLed mid-run loses nothing; a new one redelivers what was in flight', async () => {
    const emulator = await StreamEmulator.start({ heartbeatIntervalMs: 200 });
    try {
      const env = pipelineEnv({ redisUrl: redis.url, openctiUrl: emulator.url, webhookUrl: receiver.url });
      receiver.setFaults(() => ({ delayMs: 20 }));
      emulator.publishMany(800);
      await startProcess('ingester', env);
      const first = await startProcess('dispatcher', env);
      const before = receiver.delivered().length;
      await receiver.waitForCount(before + 200, 30_000);
      await first.kill('SIGKILL');
      const deliveredByFirst = receiver.delivered().length - before;
      assert.ok(deliveredByFirst < 800, 'the first dispatcher finished before it was killed');

      await startProcess('dispatcher', env);
      const ids = new Set(
        [...expectedDeliveries(emulator.sentFrames()).values()].map((frame) => frame.id),
      );
      await waitFor(
        () => {
          const delivered = new Set(receiver.delivered().map((r) => String(r.headers['x-opencti-event-id'])));
          return [...ids].every((id) => delivered.has(id));
        },
        { timeoutMs: 60_000, what: 'all 800 events delivered after the restart' },
      );
      const counts = new Map<string, number>();
      for (const request of receiver.delivered().slice(before)) {
        const id = String(request.headers['webhook-id']);
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      const duplicates = [...counts.values()].filter((n) => n > 1).length;
      // Only what was in flight at the kill (concurrency 10) may arrive twice.
      assert.ok(duplicates <= 10, `${duplicates} duplicates`);
      assert.equal(counts.size, 800);
    } finally {
      receiver.setFaults(undefined);
      await stopAll();
      await emulator.close();
    }
  });
});
