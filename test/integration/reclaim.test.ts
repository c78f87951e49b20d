/**
 * The restart reclaim (dispatcher/worker/reclaim.ts) against a throwaway
 * redis-server and real BullMQ workers. A "dead" dispatcher is a worker closed
 * without waiting for its job: its connection is gone, its lock stays until it
 * expires, as after a SIGKILL.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Queue, Worker, type Job } from 'bullmq';
import { reclaimPredecessorJobs } from '../../dispatcher/worker/reclaim.js';
import { workerConnections } from '../../shared/queue/bullmq-internals.js';
import { createLogger } from '../../shared/observability/logger.js';
import { QUEUE_NAME, queuePrefix } from '../../shared/queue/contract.js';
import { RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const logger = createLogger('test', 'error');
let server: RedisServer;
before(async () => {
  server = await RedisServer.start();
});
after(() => server.stop());

const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

const redis = () => server.client({ maxRetriesPerRequest: null });

function newQueue(): Queue {
  const queue = new Queue(QUEUE_NAME, { connection: redis(), prefix: queuePrefix(randomUUID()) });
  closers.push(() => queue.close());
  return queue;
}


/** A ready worker named `name` whose jobs never finish (they are only taken); `run` starts it. */
async function worker(queue: Queue, name: string) {
  const taken = new Set<string>();
  const instance = new Worker(
    QUEUE_NAME,
    async (job: Job) => {
      taken.add(job.id!);
      await new Promise(() => undefined);
    },
    { connection: server.client({ maxRetriesPerRequest: null }), prefix: queue.opts.prefix!, name, lockDuration: 30_000, autorun: false, concurrency: 5 },
  );
  instance.on('error', () => undefined);
  closers.push(() => instance.close(true));
  await instance.waitUntilReady();
  return {
    taken,
    run: () => void instance.run(),
    /** As a SIGKILL would: the connection goes, the locks stay. */
    die: async () => {
      await instance.close(true);
      await waitFor(async () => (await workerConnections(queue, name)) === 0, { timeoutMs: 5_000, what: `${name} to leave the worker list` });
    },
  };
}

async function takenBy(queue: Queue, name: string, ids: string[]) {
  const w = await worker(queue, name);
  for (const id of ids) await queue.add('event', { id }, { jobId: id });
  w.run();
  await waitFor(() => ids.every((id) => w.taken.has(id)), { timeoutMs: 10_000, what: `${name} to take ${ids.join(', ')}` });
  return w;
}

describe('restart reclaim', () => {
  it("a restarted dispatcher requeues at once the jobs its dead predecessor of the same name held, and only those", async () => {
    const queue = newQueue();
    await (await takenBy(queue, 'host-a', ['a1', 'a2'])).die();
    await (await takenBy(queue, 'host-b', ['b1'])).die();
    const bootAt = Date.now();
    const restarted = await worker(queue, 'host-a');

    assert.equal(await reclaimPredecessorJobs({ redis: redis(), queue, logger }, { workerName: 'host-a', bootAt, maxStalled: 10 }), 2);
    assert.equal(await queue.getJobState('a1'), 'waiting');
    assert.equal(await queue.getJobState('a2'), 'waiting');
    assert.equal(await queue.getJobState('b1'), 'active', "another name's job is left to the stalled-job check");
    restarted.run();
    await waitFor(() => restarted.taken.has('a1') && restarted.taken.has('a2'), { timeoutMs: 10_000, what: 'the restart to take its jobs back' });
    const a1 = await queue.getJob('a1');
    assert.equal(a1?.attemptsMade, 0, 'no attempt charged');
    assert.equal(a1?.stalledCounter, 1, 'counted as a stall');
  });

  it('a job its dispatcher died with as often as the stall limit allows is left to the stalled-job check, which fails it', async () => {
    const queue = newQueue();
    await (await takenBy(queue, 'host-d', ['d1', 'd2'])).die();
    await redis().hset(queue.toKey('d1'), 'stc', 3);
    const bootAt = Date.now();
    await worker(queue, 'host-d');
    assert.equal(await reclaimPredecessorJobs({ redis: redis(), queue, logger }, { workerName: 'host-d', bootAt, maxStalled: 3 }), 1);
    assert.equal(await queue.getJobState('d1'), 'active');
    assert.equal(await queue.getJobState('d2'), 'waiting');
  });

  it('nothing is reclaimed while another live connection carries the name (several dispatchers on one host)', async () => {
    const queue = newQueue();
    await takenBy(queue, 'shared-host', ['s1']);
    const bootAt = Date.now();
    await worker(queue, 'shared-host');
    assert.equal(await reclaimPredecessorJobs({ redis: redis(), queue, logger }, { workerName: 'shared-host', bootAt, maxStalled: 10 }), 0);
    assert.equal(await queue.getJobState('s1'), 'active');
  });

  it('jobs taken after this process started are not a predecessor’s', async () => {
    const queue = newQueue();
    const bootAt = Date.now();
    const late = await takenBy(queue, 'host-c', ['c1']);
    await late.die();
    await worker(queue, 'host-c');
    assert.equal(await reclaimPredecessorJobs({ redis: redis(), queue, logger }, { workerName: 'host-c', bootAt, maxStalled: 10 }), 0);
    assert.equal(await queue.getJobState('c1'), 'active');
  });
});
