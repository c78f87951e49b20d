/**
 * What the dispatcher's restart reclaim (dispatcher/reclaim.ts) takes from
 * BullMQ's internals, pinned to bullmq 6.7.0 and checked by
 * test/integration/bullmq-worker-contract.test.ts, so an upgrade that changes
 * any of it fails that test rather than a takeover in production. To be folded
 * into shared/bullmq-internals.ts, the one module that owns the product's
 * BullMQ coupling.
 *
 * Relied on:
 * - A Worker's blocking connection is named (CLIENT SETNAME)
 *   `<prefix>:<base64(queue name)>:w:<worker name>` once the worker is ready;
 *   `queue.getWorkers()` lists it with that `rawname`. A live (or half-open)
 *   worker of a given name is therefore visible to every process.
 * - A job taken by a Worker records the worker's `name` as `job.processedBy`
 *   and the pickup time as `job.processedOn`.
 * - A held job's lock is the string `<job key>:lock` holding the holder's
 *   token. `job.moveToWait(token)` checks that token, deletes the lock and
 *   puts the job at the head of the wait list in one script, and fails with
 *   code -2 (no lock) or -6 (another token) when the job changed hands.
 * - The job hash field `stc` is the stalled counter (`job.stalledCounter`)
 *   that the stalled-job check compares with `maxStalledCount`.
 */
import { ErrorCode, type Job, type Queue } from 'bullmq';
import type { RedisClient } from './redis.js';

/** The client name BullMQ gives the blocking connection of a Worker named `workerName`. */
export function workerConnectionName(prefix: string, queueName: string, workerName: string): string {
  return `${prefix}:${Buffer.from(queueName).toString('base64')}:w:${workerName}`;
}

/**
 * Connections to the queue's Redis that carry the name of a Worker called
 * `workerName` (live workers, and half-open connections of dead hosts until
 * Redis drops them).
 */
export async function workerConnections(queue: Queue, workerName: string): Promise<number> {
  const wanted = workerConnectionName(queue.opts.prefix ?? 'bull', queue.name, workerName);
  const workers = await queue.getWorkers();
  return workers.filter((worker) => worker.rawname === wanted).length;
}

/** The token of whoever holds `jobId`'s lock now, or undefined when no lock is held. */
export async function lockHolder(redis: RedisClient, queue: Queue, jobId: string): Promise<string | undefined> {
  return (await redis.get(`${queue.toKey(jobId)}:lock`)) ?? undefined;
}

/** Who took the job last and when, read afresh from Redis. */
export async function pickup(queue: Queue, jobId: string): Promise<{ processedBy?: string; processedOn?: number } | undefined> {
  const job: Job | undefined = await queue.getJob(jobId);
  if (!job) return undefined;
  return { ...(job.processedBy ? { processedBy: job.processedBy } : {}), ...(job.processedOn ? { processedOn: job.processedOn } : {}) };
}

/**
 * Puts an active job back at the head of the wait list on behalf of the lock
 * holder `token` (attemptsMade and the stalled counter unchanged). False when
 * the job changed hands since the token was read (the lock expired or another
 * worker took it): then it is not ours to move.
 */
export async function requeueHeldJob(job: Job, token: string): Promise<boolean> {
  try {
    await job.moveToWait(token);
    return true;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === ErrorCode.JobLockNotExist || code === ErrorCode.JobLockMismatch || code === ErrorCode.JobNotExist) return false;
    throw error;
  }
}

/**
 * Counts a reclaim as the stall it replaces (`job.stalledCounter` + 1), so an
 * event that kills its dispatcher every time still reaches the stall limit
 * and the failed set instead of a crash loop.
 */
export async function countAsStalled(redis: RedisClient, queue: Queue, jobId: string): Promise<void> {
  await redis.hincrby(queue.toKey(jobId), 'stc', 1);
}
