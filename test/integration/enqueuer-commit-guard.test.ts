/**
 * The commit's cursor write is guarded by its jobs: MULTI does not roll back,
 * so a job insert that fails inside the EXEC (NOSCRIPT after SCRIPT FLUSH
 * here) must keep the position where it was, whatever happens before the
 * retry; and the lost-writes detection, which reads the cursor through the
 * same write, must keep working.
 * Oracles: the jobs and the cursor in Redis.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CursorStore, type Cursor, type StoredCursor } from '../../ingester/position/cursor-store.js';
import { Enqueuer } from '../../ingester/commit/enqueuer.js';
import { createLogger } from '../../shared/observability/logger.js';
import { QUEUE_NAME, cursorKey, queuePrefix, type EventJob } from '../../shared/queue/contract.js';
import { RedisServer } from '../helpers/redis-server.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { singleRouter } from '../helpers/routes.js';

let server: RedisServer;
let redis: Redis;
before(async () => {
  server = await RedisServer.start();
  redis = server.client();
});
after(() => server.stop());

const at = (n: number): Cursor => ({ resumeFrom: `${n}-0`, openEventIds: [], recoverUntil: false, generation: 0 });

/** An enqueuer on `connector` that commits the position of the last event added; `failed` counts its failed commits. */
function enqueuerOn(queue: Queue, connector: string, startCommit: number, onFailed: (enqueuer: Enqueuer) => void = () => undefined) {
  let position = 0;
  const lostWrites: Array<StoredCursor | undefined> = [];
  const logger = createLogger('test', 'error');
  const enqueuer: Enqueuer = new Enqueuer(
    {
      router: singleRouter(queue),
      cursor: new CursorStore(redis, cursorKey(connector)),
      snapshot: () => at(position),
      logger: Object.assign(logger, { warn: () => onFailed(enqueuer) }),
      startCommit,
      onCommitted: () => undefined,
      onLostWrites: (stored) => lostWrites.push(stored),
    },
    { retryDelayMs: 10 },
  );
  const add = (n: number) => {
    position = n;
    enqueuer.add({ eventId: `e${n}`, job: { event: 'create', streamId: `${n}-0`, body: `{"n":${n}}`, receivedAt: 0 } });
  };
  return { enqueuer, add, lostWrites };
}

const queued = async (queue: Queue) => (await queue.getJobs(['waiting'])).map((job) => job.id).sort();

it('a commit whose inserts hit NOSCRIPT keeps the cursor where it was, even when its retry never comes', async () => {
  const connector = 'guard-noscript';
  const queue = new Queue<EventJob>(QUEUE_NAME, { connection: redis, prefix: queuePrefix(connector) });
  const cursor = new CursorStore(redis, cursorKey(connector));
  try {
    let failures = 0;
    // The lease is lost (or the process dies) right after the failed EXEC: no retry.
    const first = enqueuerOn(queue, connector, 0, (enqueuer) => {
      failures += 1;
      enqueuer.stop();
    });
    first.add(1);
    await withTimeout(first.enqueuer.flushed(), 10_000, 'the first commit');
    await redis.script('FLUSH');
    first.add(2);
    first.add(3);
    await waitFor(() => failures > 0, { timeoutMs: 10_000, what: 'the commit after SCRIPT FLUSH to fail' });
    await withTimeout(first.enqueuer.flushed(), 10_000, 'the stopped enqueuer to settle');
    assert.deepEqual(await queued(queue), ['e1']);
    const stored = await cursor.load();
    assert.deepEqual(stored, { cursor: at(1), commit: 1 }, 'the cursor moved past events that are not queued');

    // The next leader reads again from the stored position.
    const next = enqueuerOn(queue, connector, stored.commit);
    next.add(2);
    next.add(3);
    await withTimeout(next.enqueuer.flushed(), 10_000, 'the next leader to commit');
    assert.deepEqual(await queued(queue), ['e1', 'e2', 'e3']);
    assert.deepEqual(await cursor.load(), { cursor: at(3), commit: 2 });
    assert.deepEqual(next.lostWrites, []);
  } finally {
    await queue.close();
  }
});

it('a failed insert of a job that already exists still moves the cursor, and the retry expects that commit', async () => {
  const connector = 'guard-existing';
  const queue = new Queue<EventJob>(QUEUE_NAME, { connection: redis, prefix: queuePrefix(connector) });
  const cursor = new CursorStore(redis, cursorKey(connector));
  try {
    let failures = 0;
    const { enqueuer, add, lostWrites } = enqueuerOn(queue, connector, 0, () => void (failures += 1));
    // Queued by an earlier attempt whose cursor write did not happen.
    await queue.add('create', { event: 'create', streamId: '1-0', body: '{"n":1}', receivedAt: 0 }, { jobId: 'e1' });
    await redis.script('FLUSH');
    add(1);
    await withTimeout(enqueuer.flushed(), 10_000, 'the commit and its retry');
    assert.equal(failures, 1, 'the first EXEC did not hit NOSCRIPT: the test no longer covers the path');
    assert.deepEqual(lostWrites, [], 'the retry took the cursor its failed EXEC wrote for lost writes');
    assert.deepEqual((await cursor.load())?.cursor, at(1));
  } finally {
    await queue.close();
  }
});

it('still detects that Redis lost the last commits, from the cursor the write read', async () => {
  const connector = 'guard-lost';
  const queue = new Queue<EventJob>(QUEUE_NAME, { connection: redis, prefix: queuePrefix(connector) });
  const cursor = new CursorStore(redis, cursorKey(connector));
  try {
    const { enqueuer, add, lostWrites } = enqueuerOn(queue, connector, 0);
    add(1);
    await withTimeout(enqueuer.flushed(), 10_000, 'commit 1');
    const kept = await redis.hgetall(cursorKey(connector));
    add(2);
    await withTimeout(enqueuer.flushed(), 10_000, 'commit 2');
    // Redis restarted from a snapshot taken after commit 1.
    await redis.hset(cursorKey(connector), kept);
    add(3);
    await withTimeout(enqueuer.flushed(), 10_000, 'commit 3');
    assert.deepEqual(lostWrites, [{ cursor: at(1), commit: 1 }]);
    assert.equal((await cursor.load())?.commit, 3);
  } finally {
    await queue.close();
  }
});
