/**
 * Contract with the locked BullMQ version (6.7.0) for what the restart
 * reclaim relies on (shared/queue/bullmq-internals.ts), against a throwaway
 * redis-server: a BullMQ upgrade that changes any of it fails here.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Queue, Worker, type Job } from 'bullmq';
import { countAsStalled, lockHolder, pickup, requeueHeldJob, workerConnectionName, workerConnections } from '../../shared/queue/bullmq-internals.js';
import { QUEUE_NAME, queuePrefix } from '../../shared/queue/contract.js';
import { RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

let server: RedisServer;
before(async () => {
  server = await RedisServer.start();
});
after(() => server.stop());

/** A worker named `name` that holds every job it takes until the test lets go. */
function holdingWorker(queue: Queue, name: string) {
  const held = new Map<string, { job: Job; token: string }>();
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const worker = new Worker(
    QUEUE_NAME,
    async (job: Job, token?: string) => {
      held.set(job.id!, { job, token: token! });
      await released;
    },
    { connection: server.client({ maxRetriesPerRequest: null }), prefix: queue.opts.prefix!, name, lockDuration: 10_000, autorun: false },
  );
  worker.on('error', () => undefined);
  return { worker, held, release };
}

describe('BullMQ worker internals the restart reclaim relies on', () => {
  it('a named worker is listed under the computed connection name, its job carries the name, and moveToWait with the holder token requeues it', async () => {
    const prefix = queuePrefix(randomUUID());
    const redis = server.client({ maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAME, { connection: redis, prefix });
    const name = 'dispatcher-a';
    const { worker, held, release } = holdingWorker(queue, name);
    try {
      await worker.waitUntilReady();
      // Listed as soon as the worker is ready, before it runs: reclaim counts itself.
      const rawnames = (await queue.getWorkers()).map((w) => w.rawname);
      assert.ok(rawnames.includes(workerConnectionName(prefix, QUEUE_NAME, name)), `rawnames: ${rawnames.join(', ')}`);
      assert.equal(await workerConnections(queue, name), 1);
      assert.equal(await workerConnections(queue, 'dispatcher-b'), 0);

      const added = await queue.add('event', { n: 1 }, { jobId: 'job-1' });
      const startedAt = Date.now();
      void worker.run();
      const { token } = await waitFor(() => held.get('job-1'), { timeoutMs: 10_000, what: 'the worker to take the job' });
      const taken = await pickup(queue, 'job-1');
      assert.equal(taken?.processedBy, name);
      assert.ok(taken?.processedOn !== undefined && taken.processedOn >= startedAt - 1_000, `processedOn ${taken?.processedOn}`);
      assert.equal(await lockHolder(redis, queue, 'job-1'), token);

      // A stale token is refused: the job changed hands.
      assert.equal(await requeueHeldJob(added, `${token}-other`), false);
      assert.equal(await queue.getJobState('job-1'), 'active');

      assert.equal(await requeueHeldJob(added, token), true);
      assert.equal(await queue.getJobState('job-1'), 'waiting');
      assert.equal(await lockHolder(redis, queue, 'job-1'), undefined, 'the lock is released');
      const requeued = await queue.getJob('job-1');
      assert.equal(requeued?.attemptsMade, 0, 'no attempt charged');
      assert.equal(requeued?.stalledCounter, 0);
      await countAsStalled(redis, queue, 'job-1');
      assert.equal((await queue.getJob('job-1'))?.stalledCounter, 1, 'the stalled counter the stalled-job check compares with maxStalledCount');
      // Gone: the same token now finds no lock.
      assert.equal(await requeueHeldJob(added, token), false);
      await worker.close(true);
      await waitFor(async () => (await workerConnections(queue, name)) === 0, { timeoutMs: 5_000, what: 'the closed worker to leave the list' });
    } finally {
      release();
      await worker.close(true);
      await queue.close();
    }
  });
});
