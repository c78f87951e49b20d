/**
 * The HA ingester's lease, its term fence and its leadership loop, against a
 * throwaway redis-server: acquisition, renewal, expiry, release, fencing of a
 * commit after a takeover (also through the real Enqueuer and BullMQ), and
 * the term surviving a Redis that lost its data.
 * Oracles: what Redis holds, and the jobs and cursor the enqueuer wrote.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { CursorStore } from '../../ingester/position/cursor-store.js';
import { Enqueuer } from '../../ingester/commit/enqueuer.js';
import { Leadership, type TermEnd } from '../../ingester/leadership/leadership.js';
import { Lease, leaseKey, termFence, termKey, type LeaseTerm } from '../../ingester/leadership/lease.js';
import { createLogger } from '../../shared/observability/logger.js';
import { QUEUE_NAME, cursorKey, queuePrefix, type EventJob } from '../../shared/queue/contract.js';
import { RedisServer } from '../helpers/redis-server.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { singleRouter } from '../helpers/routes.js';

const logger = createLogger('test', 'error');
const CONNECTOR = 'lease-test';
const keys = { lease: leaseKey(CONNECTOR), term: termKey(CONNECTOR) };

let server: RedisServer;
let redis: Redis;
before(async () => {
  server = await RedisServer.start();
  redis = server.client();
});
after(() => server.stop());
beforeEach(() => redis.flushall());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Lease', () => {
  it('is taken by one ingester at a time, renewed and released only by its holder', async () => {
    const a = new Lease(redis, keys, 10_000);
    const b = new Lease(redis, keys, 10_000);
    const termA = await a.tryAcquire();
    assert.equal(termA?.epoch, 1);
    assert.equal(await b.tryAcquire(), undefined, 'a second ingester got a held lease');
    assert.equal(await a.renew(termA), true);
    const stranger: LeaseTerm = { epoch: 1, token: `1 ${b.owner}` };
    assert.equal(await b.renew(stranger), false);
    assert.equal(await b.release(stranger), false);
    assert.equal(await a.holder(), termA.token);
    assert.equal(await a.release(termA), true);
    const termB = await b.tryAcquire();
    assert.equal(termB?.epoch, 2, 'the epoch grows with every acquisition');
    assert.equal(await a.renew(termA), false, 'a released term cannot be renewed back');
  });

  it('expires when its holder stops renewing, and the next term has a higher epoch', async () => {
    const a = new Lease(redis, keys, 1_000);
    const b = new Lease(redis, keys, 1_000);
    const termA = (await a.tryAcquire())!;
    assert.equal(await b.tryAcquire(), undefined);
    const termB = await waitFor(() => b.tryAcquire(), { timeoutMs: 5_000, intervalMs: 100, what: 'the lease to expire' });
    assert.ok(termB.epoch > termA.epoch);
    assert.equal(await a.renew(termA), false);
    assert.ok((await redis.pttl(keys.lease)) <= 1_000);
  });

  it('survives a Redis that lost its data: the holder renews it back, unless someone took over first', async () => {
    const a = new Lease(redis, keys, 10_000);
    const b = new Lease(redis, keys, 10_000);
    const termA = (await a.tryAcquire())!;
    await redis.flushall();
    assert.equal(await a.renew(termA), true);
    assert.equal(await redis.get(keys.term), termA.token);
    assert.equal(await b.tryAcquire(), undefined);

    await redis.flushall();
    const termB = (await b.tryAcquire())!;
    assert.equal(await a.renew(termA), false, 'renewed a term another ingester replaced');
    assert.equal(await redis.get(keys.term), termB.token);
  });
});

describe('termFence', () => {
  it('holds while the term is current, refuses after a takeover, and a takeover after the check aborts the EXEC', async () => {
    const commits = server.client();
    try {
      const a = new Lease(redis, keys, 10_000);
      const termA = (await a.tryAcquire())!;
      const fence = termFence(commits, keys.term, a, termA);
      assert.equal(await fence(), true);
      const ok = await commits.multi().set('committed', '1').exec();
      assert.deepEqual(ok, [[null, 'OK']]);

      // The check passes, then another ingester takes over before EXEC.
      assert.equal(await fence(), true);
      await redis.del(keys.lease);
      const b = new Lease(redis, keys, 10_000);
      assert.ok(await b.tryAcquire());
      assert.equal(await commits.multi().set('committed', '2').exec(), null, 'EXEC went through after a takeover');
      assert.equal(await redis.get('committed'), '1');
      assert.equal(await fence(), false);
      // A refused check leaves no WATCH behind on the connection.
      await redis.set(keys.term, 'someone else');
      assert.deepEqual(await commits.multi().set('other', '1').exec(), [[null, 'OK']]);
    } finally {
      commits.disconnect();
    }
  });
});

describe('Enqueuer with a fence', () => {
  it('commits while the term is current; after a takeover commits nothing, drops its buffer and says so', async () => {
    const prefix = queuePrefix(CONNECTOR);
    const commits = server.client();
    const queue = new Queue<EventJob>(QUEUE_NAME, { connection: commits, prefix });
    try {
      const lease = new Lease(redis, keys, 10_000);
      const term = (await lease.tryAcquire())!;
      const cursor = new CursorStore(redis, cursorKey(CONNECTOR));
      let fenced = 0;
      let committed = 0;
      let position = 0;
      const enqueuer = new Enqueuer({
        router: singleRouter(queue),
        cursor,
        snapshot: () => ({ resumeFrom: `${position}-0`, openEventIds: [], recoverUntil: false, generation: 0 }),
        logger,
        startCommit: 0,
        onCommitted: () => (committed += 1),
        onLostWrites: () => assert.fail('lost writes'),
        fence: termFence(commits, keys.term, lease, term),
        onFenced: () => (fenced += 1),
      });
      const add = (n: number) => {
        position = n;
        enqueuer.add({ eventId: `e${n}`, job: { event: 'create', streamId: `${n}-0`, body: '{}', receivedAt: Date.now() } });
      };
      add(1);
      add(2);
      await enqueuer.flushed();
      assert.equal(committed, 1);
      assert.equal(await queue.count(), 2);

      await redis.del(keys.lease);
      assert.ok(await new Lease(redis, keys, 10_000).tryAcquire());
      add(3);
      await enqueuer.flushed();
      assert.equal(fenced, 1);
      assert.equal(committed, 1);
      assert.equal(await queue.count(), 2, 'a fenced ingester added a job');
      assert.equal((await cursor.load())?.cursor.resumeFrom, '2-0', 'a fenced ingester moved the cursor');
      add(4);
      await enqueuer.flushed();
      assert.equal(enqueuer.backlog, 0, 'a stopped enqueuer buffers nothing');
      assert.equal(await queue.count(), 2);
    } finally {
      await queue.close();
      commits.disconnect();
    }
  });
});

describe('Leadership', () => {
  function leadershipOn(lease: Lease, log: string[], start: (term: LeaseTerm) => Promise<void> = async () => undefined) {
    return new Leadership({
      lease,
      logger,
      registry: new Registry(),
      lead: async (term) => {
        log.push(`lead ${term.epoch}`);
        await start(term);
      },
      stepDown: async (end: TermEnd) => void log.push(`down ${end}`),
      onStandby: () => log.push('standby'),
      crash: (event, error) => log.push(`crash ${event} ${(error as Error).message}`),
    });
  }

  it('a term whose start failed with a retryable error is dropped, its lease released, and leadership tried again', async () => {
    const log: string[] = [];
    // What a Redis Cluster failover outlasting the client's retries looks like to cursor.load().
    const a = leadershipOn(new Lease(redis, keys, 20_000), log, async (term) => {
      if (term.epoch === 1) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7000'), { code: 'ECONNREFUSED' });
    });
    a.start();
    await waitFor(() => log.includes('lead 2'), { timeoutMs: 10_000, what: 'a second term' });
    assert.equal(a.role, 'leader');
    assert.deepEqual(log, ['lead 1', 'down failed', 'lead 2']);
    await a.stop();
  });

  it('a stop that lands while a failed term steps down skips the pause before the next try', async () => {
    const log: string[] = [];
    let finishStepDown!: () => void;
    const steppingDown = new Promise<void>((resolve) => (finishStepDown = resolve));
    // A TTL of 10 min: the pause after a failed start would be about a minute.
    const a = new Leadership({
      lease: new Lease(redis, keys, 600_000),
      logger,
      registry: new Registry(),
      lead: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7000'), { code: 'ECONNREFUSED' });
      },
      stepDown: async (end: TermEnd) => {
        log.push(`down ${end}`);
        await steppingDown;
      },
      crash: (event, error) => log.push(`crash ${event} ${(error as Error).message}`),
    });
    a.start();
    await waitFor(() => log.includes('down failed'), { timeoutMs: 5_000, what: 'the failed term to step down' });
    const stopped = a.stop();
    finishStepDown();
    await withTimeout(stopped, 5_000, 'the stop, without the pause after the failed start');
    assert.deepEqual(log, ['down failed']);
  });

  it('a term whose start failed with an error no retry cures crashes the process', async () => {
    const log: string[] = [];
    const a = leadershipOn(new Lease(redis, keys, 20_000), log, async () => {
      await redis.set('not-a-hash', 'x');
      await redis.hgetall('not-a-hash');
    });
    a.start();
    await waitFor(() => log.some((line) => line.startsWith('crash')), { timeoutMs: 10_000, what: 'the crash' });
    assert.match(log.find((line) => line.startsWith('crash'))!, /^crash lease\.term_failed WRONGTYPE/);
    await a.stop();
  });

  it('one leads, the other stands by; a shutdown releases the lease and the standby takes over at once', async () => {
    const logA: string[] = [];
    const logB: string[] = [];
    const a = leadershipOn(new Lease(redis, keys, 20_000), logA);
    const b = leadershipOn(new Lease(redis, keys, 20_000), logB);
    a.start();
    await waitFor(() => a.role === 'leader', { timeoutMs: 5_000, what: 'a leads' });
    b.start();
    await waitFor(() => logB.includes('standby'), { timeoutMs: 5_000, what: 'b stands by' });
    assert.equal(b.role, 'standby');
    const stoppedAt = Date.now();
    await a.stop();
    assert.deepEqual(logA, ['lead 1', 'down shutdown']);
    // Polling every tenth of the TTL (2 s): far sooner than the 20 s TTL.
    await waitFor(() => b.role === 'leader', { timeoutMs: 5_000, what: 'b takes over' });
    assert.ok(Date.now() - stoppedAt < 10_000);
    assert.deepEqual(logB, ['standby', 'lead 2']);
    await b.stop();
    assert.equal(await redis.exists(keys.lease), 0);
  });

  it('a leader whose lease was taken steps down and stands by', async () => {
    const log: string[] = [];
    const lease = new Lease(redis, keys, 1_000);
    const a = leadershipOn(lease, log);
    a.start();
    await waitFor(() => a.role === 'leader', { timeoutMs: 5_000, what: 'a leads' });
    await redis.del(keys.lease);
    const other = new Lease(redis, keys, 60_000);
    assert.ok(await other.tryAcquire());
    await waitFor(() => log.includes('standby'), { timeoutMs: 5_000, what: 'a steps down' });
    assert.equal(a.role, 'standby');
    assert.ok(log.includes('down taken') || log.includes('down expired'), log.join(', '));
    await sleep(300);
    assert.equal(a.role, 'standby', 'took a held lease');
    await a.stop();
    assert.notEqual(await redis.exists(keys.lease), 0, 'a standby released the leader\'s lease');
  });
});
