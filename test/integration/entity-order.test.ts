/**
 * Per-entity ordering against a throwaway redis-server: the ingester's
 * lining up (through the real Enqueuer transaction), the claim and release
 * scripts, and real BullMQ workers delivering interleaved entities.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { EntityOrder } from '../../dispatcher/delivery/entity-order.js';
import { CursorStore } from '../../ingester/position/cursor-store.js';
import { Enqueuer } from '../../ingester/commit/enqueuer.js';
import { eventId } from '../../ingester/stream/frame.js';
import { LINE_TTL_SECONDS, entityOrderKey, entityOrderMember } from '../../shared/queue/entity-order.js';
import { createLogger } from '../../shared/observability/logger.js';
import { QUEUE_NAME, cursorKey, queuePrefix, type EventJob } from '../../shared/queue/contract.js';
import { RedisServer } from '../helpers/redis-server.js';
import { createRng } from '../helpers/stix-fixtures.js';
import { waitFor } from '../helpers/wait.js';
import { singleRouter } from '../helpers/routes.js';

const logger = createLogger('test', 'error');
let server: RedisServer;
before(async () => {
  server = await RedisServer.start();
});
after(() => server.stop());

type LineScript = (key: string, completed: string, failed: string, member: string, jobPrefix: string) => Promise<unknown>;

/** One connector's queue, and the ingester's Enqueuer writing into it. */
async function connector(name: string) {
  const redis = server.client({ maxRetriesPerRequest: null });
  const prefix = queuePrefix(name);
  const queue = new Queue<EventJob>(QUEUE_NAME, { connection: redis, prefix });
  let commits = 0;
  const enqueuer = new Enqueuer({
    router: singleRouter(queue),
    cursor: new CursorStore(redis, cursorKey(name)),
    snapshot: () => ({ resumeFrom: '0-0', openEventIds: [], recoverUntil: false, generation: 0 }),
    logger,
    startCommit: 0,
    onCommitted: () => (commits += 1),
    onLostWrites: () => assert.fail('no writes can be lost here'),
  });
  /** Queues events as the ingester does; returns their job ids. */
  const enqueue = async (events: Array<{ streamId: string; entity?: string; event?: EventJob['event'] }>): Promise<string[]> => {
    const ids: string[] = [];
    for (const { streamId, entity, event = 'update' } of events) {
      const body = JSON.stringify({ type: event, data: { id: entity ?? 'none--0', n: streamId } });
      const id = eventId(event, streamId, body);
      const job: EventJob = { event, streamId, body, receivedAt: Date.now() };
      if (entity !== undefined) job.entity = entity;
      enqueuer.add({ eventId: id, job });
      ids.push(id);
    }
    await enqueuer.flushed();
    return ids;
  };
  const order = new EntityOrder({ redis, queue, orderScope: prefix, logger });
  const scripts = redis as unknown as { entityOrderClaim: LineScript; entityOrderRelease: LineScript };
  const args = (entity: string, streamId: string, jobId: string) =>
    [entityOrderKey(prefix, entity), queue.keys.completed!, queue.keys.failed!, entityOrderMember(streamId, jobId), queue.toKey('')] as const;
  const claim = (entity: string, streamId: string, jobId: string) => scripts.entityOrderClaim(...args(entity, streamId, jobId));
  const release = (entity: string, streamId: string, jobId: string) => scripts.entityOrderRelease(...args(entity, streamId, jobId));
  const line = (entity: string) => redis.zrange(entityOrderKey(prefix, entity), '0', '-1');
  return { redis, prefix, queue, enqueue, order, claim, release, line, commits: () => commits, close: () => queue.close() };
}

describe('per-entity ordering scripts', () => {
  it('the ingester lines events up in stream order, in its transaction, and a repeated write changes nothing', async (t) => {
    const c = await connector('line-up');
    t.after(() => c.close());
    const ids = await c.enqueue([
      { streamId: '9-0', entity: 'malware--a' },
      { streamId: '9-10', entity: 'malware--a' },
      { streamId: '10-2', entity: 'malware--a' },
      { streamId: '10-3', entity: 'report--b' },
      { streamId: '11-0' }, // ordering off for this one: no line
    ]);
    assert.deepEqual((await c.line('malware--a')).map((m) => m.slice(m.indexOf(':') + 1)), ids.slice(0, 3));
    assert.equal((await c.line('report--b')).length, 1);
    assert.equal((await c.redis.keys(`${c.prefix}:order:*`)).length, 2);
    assert.equal(c.commits(), 1, 'one transaction for jobs, lines and position');
    const ttl = await c.redis.ttl(entityOrderKey(c.prefix, 'malware--a'));
    assert.ok(ttl > 6 * 24 * 3600 && ttl <= LINE_TTL_SECONDS, `a line expires a week after its newest event (TTL ${ttl} s)`);
    await c.enqueue([{ streamId: '9-10', entity: 'malware--a' }]);
    assert.equal((await c.line('malware--a')).length, 3);
  });

  it('claim: the front proceeds, others learn how many are ahead, events not in a line proceed', async (t) => {
    const c = await connector('claim');
    t.after(() => c.close());
    const [a, b, d] = await c.enqueue([
      { streamId: '1-0', entity: 'x--1' },
      { streamId: '2-0', entity: 'x--1' },
      { streamId: '3-0', entity: 'x--1' },
    ]);
    assert.equal(await c.claim('x--1', '1-0', a!), 0);
    assert.equal(await c.claim('x--1', '2-0', b!), 1);
    assert.equal(await c.claim('x--1', '3-0', d!), 2);
    assert.equal(await c.claim('x--1', '4-0', 'not-lined-up'), -1);
  });

  it('a front that was removed, completed or failed without its release is dropped, so nothing stays stuck', async (t) => {
    const c = await connector('dead-fronts');
    t.after(() => c.close());
    const [removed, completed, failed, live] = await c.enqueue([
      { streamId: '1-0', entity: 'x--1' },
      { streamId: '2-0', entity: 'x--1' },
      { streamId: '3-0', entity: 'x--1' },
      { streamId: '4-0', entity: 'x--1' },
    ]);
    await c.queue.remove(removed!);
    await c.redis.zadd(c.queue.keys.completed!, Date.now(), completed!);
    await c.redis.zadd(c.queue.keys.failed!, Date.now(), failed!);
    assert.equal(await c.claim('x--1', '4-0', live!), 0);
    assert.equal((await c.line('x--1')).length, 1);
  });

  it('release: the front wakes the next, a middle one wakes nobody, the last one removes the line', async (t) => {
    const c = await connector('release');
    t.after(() => c.close());
    const [a, b, d] = await c.enqueue([
      { streamId: '1-0', entity: 'x--1' },
      { streamId: '2-0', entity: 'x--1' },
      { streamId: '3-0', entity: 'x--1' },
    ]);
    assert.equal(await c.release('x--1', '2-0', b!), null, 'a filtered event in the middle must not cut the front\'s backoff short');
    assert.equal(await c.release('x--1', '1-0', a!), d);
    assert.equal(await c.release('x--1', '3-0', d!), null);
    assert.equal(await c.redis.exists(entityOrderKey(c.prefix, 'x--1')), 0);
    assert.equal(await c.release('x--1', '3-0', d!), null, 'releasing twice is harmless');
  });
});

describe('per-entity ordering with real workers', () => {
  /** Two workers (two dispatcher replicas) with their own connections and EntityOrder. */
  function startWorkers(c: Awaited<ReturnType<typeof connector>>, process: (job: Job<EventJob>) => Promise<void>, parked: { count: number }): Worker<EventJob>[] {
    return [0, 1].map(() => {
      const redis: Redis = server.client({ maxRetriesPerRequest: null });
      const queue = new Queue(QUEUE_NAME, { connection: redis, prefix: c.prefix });
      const order = new EntityOrder({ redis, queue, orderScope: c.prefix, logger, onParked: () => (parked.count += 1) });
      const worker = new Worker<EventJob>(
        QUEUE_NAME,
        async (job, token) => {
          await order.claim(job, token, job.data.entity!);
          await process(job);
        },
        { connection: redis, prefix: c.prefix, concurrency: 20, settings: { backoffStrategy: () => 30 } },
      );
      order.attach(worker);
      worker.on('closed', () => void queue.close());
      return worker;
    });
  }

  it('interleaved entities: each entity\'s events are processed one at a time in stream order, retries included', async (t) => {
    const c = await connector('workers');
    const rng = createRng('entity-order-workers');
    const entities = 30;
    const perEntity = 8;
    const events: Array<{ streamId: string; entity: string }> = [];
    for (let i = 0; i < entities * perEntity; i += 1) events.push({ streamId: `${1000 + i}-0`, entity: `malware--${Math.floor(rng() * entities)}` });
    const delivered = new Map<string, string[]>();
    const inFlight = new Set<string>();
    const violations: string[] = [];
    const parked = { count: 0 };
    let retried = 0;
    const workers = startWorkers(
      c,
      async (job) => {
        const { entity, streamId } = job.data;
        if (inFlight.has(entity!)) violations.push(`${entity} had two events in flight`);
        inFlight.add(entity!);
        await new Promise((resolve) => setTimeout(resolve, rng() * 15));
        inFlight.delete(entity!);
        if (job.attemptsMade === 0 && rng() < 0.2) {
          retried += 1;
          throw new Error('first attempt fails');
        }
        delivered.set(entity!, [...(delivered.get(entity!) ?? []), streamId]);
      },
      parked,
    );
    t.after(async () => {
      await Promise.all(workers.map((w) => w.close()));
      await c.close();
    });
    await c.enqueue(events);
    await waitFor(() => [...delivered.values()].reduce((n, list) => n + list.length, 0) >= events.length || undefined, {
      timeoutMs: 30_000,
      what: `${events.length} events processed`,
    });
    for (const [entity, list] of delivered) {
      const expected = events.filter((e) => e.entity === entity).map((e) => e.streamId);
      assert.deepEqual(list, expected, `${entity} out of order`);
    }
    assert.deepEqual(violations, []);
    assert.ok(parked.count > 0 && retried > 0, `the scenario must park (${parked.count}) and retry (${retried}) events`);
    await waitFor(async () => (await c.redis.keys(`${c.prefix}:order:*`)).length === 0 || undefined, { timeoutMs: 5_000, what: 'every line gone' });
  });

  it('a dead-lettered front releases its entity', async (t) => {
    const c = await connector('dead-letter');
    const order: string[] = [];
    const workers = startWorkers(
      c,
      async (job) => {
        if (job.data.streamId === '1-0') {
          order.push('failed 1-0');
          throw new UnrecoverableError('refused');
        }
        order.push(job.data.streamId);
      },
      { count: 0 },
    );
    t.after(async () => {
      await Promise.all(workers.map((w) => w.close()));
      await c.close();
    });
    await c.enqueue(['1-0', '2-0', '3-0'].map((streamId) => ({ streamId, entity: 'indicator--1' })));
    await waitFor(() => order.length >= 3 || undefined, { timeoutMs: 15_000, what: 'the entity released by its dead letter' });
    assert.deepEqual(order, ['failed 1-0', '2-0', '3-0']);
    assert.equal(await c.queue.getFailedCount(), 1);
    await waitFor(async () => (await c.redis.exists(entityOrderKey(c.prefix, 'indicator--1'))) === 0 || undefined, { timeoutMs: 5_000, what: 'the line gone' });
  });
});
