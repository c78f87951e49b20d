/**
 * The enqueuer's commits after Redis forgot BullMQ's Lua scripts (SCRIPT
 * FLUSH here; a promoted replica or a restart without persistence in
 * production) while the connection stayed up: ioredis keeps sending EVALSHA
 * inside the MULTI and cannot fall back to EVAL there, so without reloading
 * the scripts every commit would fail with NOSCRIPT forever.
 * Oracle: the jobs and cursor in Redis.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CursorStore } from '../../ingester/position/cursor-store.js';
import { Enqueuer } from '../../ingester/commit/enqueuer.js';
import { createLogger } from '../../shared/observability/logger.js';
import { QUEUE_NAME, cursorKey, queuePrefix, type EventJob } from '../../shared/queue/contract.js';
import { RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { singleRouter } from '../helpers/routes.js';

const CONNECTOR = 'scripts-test';
let server: RedisServer;
let redis: Redis;
before(async () => {
  server = await RedisServer.start();
  redis = server.client();
});
after(() => server.stop());

it('commits again once Redis lost the scripts its connection already used', async () => {
  const queue = new Queue<EventJob>(QUEUE_NAME, { connection: redis, prefix: queuePrefix(CONNECTOR) });
  const cursor = new CursorStore(redis, cursorKey(CONNECTOR));
  let position = 0;
  let failures = 0;
  const logger = createLogger('test', 'error');
  logger.warn = (() => void (failures += 1));
  const enqueuer = new Enqueuer(
    {
      router: singleRouter(queue),
      cursor,
      snapshot: () => ({ resumeFrom: `${position}-0`, openEventIds: [], recoverUntil: false, generation: 0 }),
      logger,
      startCommit: 0,
      onCommitted: () => undefined,
      onLostWrites: () => assert.fail('lost writes'),
    },
    { retryDelayMs: 10 },
  );
  const add = (n: number) => {
    position = n;
    enqueuer.add({ eventId: `e${n}`, job: { event: 'create', streamId: `${n}-0`, body: '{}', receivedAt: Date.now() } });
  };
  try {
    add(1);
    await enqueuer.flushed();
    await redis.script('FLUSH');
    add(2);
    await waitFor(async () => (await queue.count()) === 2, { timeoutMs: 10_000, what: 'the job committed after SCRIPT FLUSH' });
    await enqueuer.flushed();
    assert.equal((await cursor.load())?.cursor.resumeFrom, '2-0');
    assert.ok(failures <= 1, `${failures} failed commits: the scripts were not reloaded after the first NOSCRIPT`);
  } finally {
    await queue.close();
  }
});
