import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CursorStore, type Cursor } from '../../ingester/position/cursor-store.js';
import { Enqueuer, type EnqueuerOptions } from '../../ingester/commit/enqueuer.js';
import type { PendingEvent } from '../../ingester/commit/job-packing.js';
import { StreamPosition } from '../../ingester/position/stream-position.js';
import type { Logger } from '../../shared/observability/logger.js';
import { QUEUE_NAME, cursorKey, queuePrefix, type EventJob } from '../../shared/queue/contract.js';
import { RedisServer } from '../helpers/redis-server.js';
import { withTimeout } from '../helpers/wait.js';
import { singleRouter } from '../helpers/routes.js';

const silent = { warn() {}, info() {}, debug() {}, error() {} } as unknown as Logger;

let redis: RedisServer;
let client: Redis;
before(async () => {
  redis = await RedisServer.start();
  client = redis.client();
});
after(() => redis.stop());

interface Committed {
  events: string[];
  cursor: Cursor;
}

/** An enqueuer on a fresh connector, fed like the frame handler feeds it: admit the frame, then add it. */
function setup(connectorId: string, options: EnqueuerOptions) {
  const queue = new Queue<EventJob>(QUEUE_NAME, { connection: client, prefix: queuePrefix(connectorId) });
  const position = new StreamPosition({ resumeFrom: '0-0', openEventIds: [] });
  const snapshot = (): Cursor => ({ ...position.snapshot(), recoverUntil: false, generation: 0 });
  const commits: Committed[] = [];
  const enqueuer = new Enqueuer(
    {
      router: singleRouter(queue),
      cursor: new CursorStore(client, cursorKey(connectorId)),
      snapshot,
      logger: silent,
      startCommit: 0,
      onCommitted: (cursor, batch) => commits.push({ events: batch.map((e) => e.eventId), cursor }),
      onLostWrites: () => assert.fail('no write was lost'),
    },
    options,
  );
  /** Position right after each event was added, by event id. */
  const positionAfter = new Map<string, Cursor>();
  const add = (n: number, body: string): void => {
    const streamId = `${1_000 + n}-0`;
    const eventId = `event-${n}`;
    assert.ok(position.admit(streamId, eventId));
    const event: PendingEvent = { eventId, job: { event: 'create', streamId, body, receivedAt: 0 } };
    enqueuer.add(event);
    positionAfter.set(eventId, snapshot());
  };
  return { queue, enqueuer, commits, add, positionAfter };
}

describe('Enqueuer batches', () => {
  it('caps a transaction at maxBatchEvents and commits with each batch the position right after its last event', async () => {
    const { queue, enqueuer, commits, add, positionAfter } = setup('cap-events', { maxBatchEvents: 3 });
    for (let n = 1; n <= 10; n += 1) add(n, `{"n":${n}}`);
    await withTimeout(enqueuer.flushed(), 10_000, 'the enqueuer to flush');

    assert.deepEqual(
      commits.map((c) => c.events.length),
      [3, 3, 3, 1],
    );
    for (const commit of commits) {
      const last = commit.events[commit.events.length - 1] as string;
      assert.deepEqual(commit.cursor, positionAfter.get(last), `the position committed with ${commit.events.join(',')}`);
    }
    assert.equal(await queue.count(), 10);
    assert.equal(enqueuer.backlog, 0);
    await queue.close();
  });

  it('closes a batch once its bodies reach maxBatchChars', async () => {
    const { queue, enqueuer, commits, add } = setup('cap-chars', { maxBatchChars: 25 });
    for (let n = 1; n <= 7; n += 1) add(n, 'x'.repeat(10));
    await withTimeout(enqueuer.flushed(), 10_000, 'the enqueuer to flush');
    assert.deepEqual(
      commits.map((c) => c.events.length),
      [3, 3, 1],
    );
    assert.equal(await queue.count(), 7);
    await queue.close();
  });

  it('pauses the reader once the buffered bodies reach highWaterChars, and resumes it once they are committed', async () => {
    const { queue, enqueuer, add } = setup('read-ahead-chars', { highWaterChars: 30 });
    add(1, 'x'.repeat(20));
    await enqueuer.waitForCapacity();
    add(2, 'x'.repeat(20));
    // Both are buffered until the next turn of the event loop: 40 characters, over the bound.
    const backlogWhenResumed = enqueuer.waitForCapacity().then(() => enqueuer.backlog);
    assert.equal(await withTimeout(backlogWhenResumed, 10_000, 'the reader to resume'), 0);
    assert.equal(await queue.count(), 2);
    await queue.close();
  });

  it('stores the job data byte for byte as the JSON of the job (the contract the dispatcher reads)', async () => {
    const { queue, enqueuer, add } = setup('job-data', {});
    const body = '{"data":{"name":"Größe — 東京 😀","description":"quote \\" backslash \\\\ tab \\t"}}';
    add(1, body);
    await withTimeout(enqueuer.flushed(), 10_000, 'the enqueuer to flush');
    const job = await Job.fromId<EventJob>(queue, 'event-1');
    assert.ok(job);
    assert.deepEqual(job.data, { event: 'create', streamId: '1001-0', body, receivedAt: 0 });
    const raw = await client.hget(`${queuePrefix('job-data')}:${QUEUE_NAME}:event-1`, 'data');
    assert.equal(raw, JSON.stringify({ event: 'create', streamId: '1001-0', body, receivedAt: 0 }));
    await queue.close();
  });
});
