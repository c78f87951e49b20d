import type { Queue } from 'bullmq';
import { ErrorCode } from '../../shared/errors/codes.js';
import type { Logger } from '../../shared/observability/logger.js';
import type { RedisClient } from '../../shared/redis/client.js';
import { countAsStalled, lockHolder, pickup, requeueHeldJob, workerConnections } from '../../shared/queue/bullmq-internals.js';

export interface ReclaimDeps {
  /** The queue's Redis (the connection the queue was made with). */
  redis: RedisClient;
  queue: Queue;
  logger: Logger;
}

export interface ReclaimOptions {
  /** This dispatcher's worker name (DISPATCHER_WORKER_NAME), the same as its predecessor's. */
  workerName: string;
  /** When this process started: jobs taken since then are not a predecessor's. */
  bootAt: number;
  /** The worker's maxStalledCount: a job at it is left to the stalled-job check, which fails it. */
  maxStalled: number;
}

/**
 * A restarted dispatcher puts the deliveries its dead predecessor left in
 * flight back at the head of the queue at once, instead of letting them wait
 * for their locks to expire and the stalled-job check to notice (up to 1.5 ×
 * DISPATCHER_LOCK_DURATION_MS). Call it once this process's worker is ready
 * (its named connection visible in Redis) and before it runs.
 *
 * A job is reclaimed only when it is provably the predecessor's: taken by a
 * worker of this name before this process started, while no other live
 * connection carries the name (several dispatchers sharing a host name, a
 * half-open connection of a crashed host: then nothing is reclaimed and the
 * stalled-job check takes over). The move names the lock token read before the
 * job, so a job that changed hands meanwhile is left alone. A reclaim counts as
 * a stall: a job whose dispatcher died with it too often is left to the
 * stalled-job check, which fails it, rather than crash every restart. Any failure only
 * means the stalled-job check does the work: it is logged, never thrown.
 * Returns how many jobs went back.
 */
export async function reclaimPredecessorJobs({ redis, queue, logger }: ReclaimDeps, { workerName, bootAt, maxStalled }: ReclaimOptions): Promise<number> {
  try {
    const named = await workerConnections(queue, workerName);
    if (named !== 1) {
      // 0: Redis does not show our own connection (no CLIENT LIST or SETNAME), so a live namesake would not show either.
      const hint = named === 0 ? 'this Redis does not list worker connections' : 'another live connection carries this worker name';
      logger.info({ workerName, connections: named, hint }, 'worker.reclaim_skipped');
      return 0;
    }
    const reclaimed: string[] = [];
    for (const job of await queue.getActive()) {
      if (job.id === undefined || job.processedBy !== workerName || job.stalledCounter >= maxStalled) continue;
      const token = await lockHolder(redis, queue, job.id);
      if (token === undefined) continue; // lock already expired: the stalled-job check moves it
      const taken = await pickup(queue, job.id);
      if (taken?.processedBy !== workerName || taken.processedOn === undefined || taken.processedOn >= bootAt) continue;
      // Counted first: once requeued the job may be completed and trimmed at any time.
      await countAsStalled(redis, queue, job.id);
      if (await requeueHeldJob(job, token)) reclaimed.push(job.id);
    }
    if (reclaimed.length > 0) logger.warn({ workerName, jobs: reclaimed.length, jobIds: reclaimed }, 'worker.reclaimed');
    return reclaimed.length;
  } catch (error) {
    // Info, not a warning: the stalled-job check covers it, and a Redis refusing CLIENT LIST (ACL without @dangerous) is a supported set-up.
    logger.info(
      { workerName, code: ErrorCode.reclaimFailed, err: { message: (error as Error).message }, hint: 'the stalled-job check redelivers them instead; an ACL user needs +client|list for reclaim' },
      'worker.reclaim_failed',
    );
    return 0;
  }
}
