import { UnrecoverableError, Worker, type KeepJobs } from 'bullmq';
import { logErrorEvents, type RedisClient } from '../../shared/redis/client.js';
import type { Logger } from '../../shared/observability/logger.js';
import { queuePrefix, type EventJob } from '../../shared/queue/contract.js';
import { retryDelayMs, type RetryPolicy } from '../../shared/timing/backoff.js';
import type { createDeliver } from '../delivery/deliver.js';
import type { DispatcherMetrics } from '../metrics.js';

export interface DeliveryWorkerOptions {
  /** The destination's queue (DestinationKeys.queueName). */
  queueName: string;
  connectorId: string;
  concurrency: number;
  retry: RetryPolicy;
  /** How long a job stays claimed without a lock renewal (DISPATCHER_LOCK_DURATION_MS). */
  lockDurationMs: number;
  /** DISPATCHER_WORKER_NAME: recorded as each job's `processedBy` and in the worker's Redis connection name (see reclaim.ts). */
  name: string;
  /** Dead letters BullMQ may delete (see failed-retention.ts); undefined keeps them all. */
  failedRetention?: KeepJobs;
}

export interface DeliveryWorkerDeps {
  connection: RedisClient;
  deliver: ReturnType<typeof createDeliver>;
  metrics: DispatcherMetrics;
  logger: Logger;
}

/** Completed jobs kept for inspection (bull-board); failed jobs are all kept unless an operator set a retention. */
const KEEP_COMPLETED = 1_000;
/** A job whose dispatcher died this many times in a row (stalled or reclaimed) fails instead of stalling forever. */
export const MAX_STALLED = 10;

/**
 * The stalled-job check runs every quarter of the lock: a dead dispatcher's
 * job is requeued at most max(L, 2S) + 2S = 1.5 L after the crash (15 s with
 * the default 10 s lock; BullMQ's own default check every 30 s would take up
 * to a minute). The check is one script per queue per interval whichever
 * dispatcher runs it, O(active jobs).
 */
function stalledIntervalMs(lockDurationMs: number): number {
  return Math.round(lockDurationMs / 4);
}

export function createDeliveryWorker(options: DeliveryWorkerOptions, deps: DeliveryWorkerDeps): Worker<EventJob> {
  const worker = new Worker<EventJob>(options.queueName, deps.deliver, {
    connection: deps.connection,
    prefix: queuePrefix(options.connectorId),
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: stalledIntervalMs(options.lockDurationMs),
    name: options.name,
    maxStalledCount: MAX_STALLED,
    removeOnComplete: { count: KEEP_COMPLETED },
    removeOnFail: options.failedRetention,
    autorun: false,
    settings: {
      backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) =>
        retryDelayMs(attemptsMade, options.retry, (error as { retryAfterMs?: number } | undefined)?.retryAfterMs),
    },
  });
  worker.on('failed', (job, error) => {
    if (!job) return;
    if (job.finishedOn === undefined) {
      deps.metrics.retried();
      return;
    }
    const reason = error instanceof UnrecoverableError ? 'rejected' : 'exhausted';
    deps.metrics.gaveUp(reason);
    deps.logger.error({ jobId: job.id, attempts: job.attemptsMade, failure: reason, reason: error.message }, 'delivery.gave_up');
  });
  worker.on('stalled', (jobId) => deps.logger.warn({ jobId }, 'delivery.stalled'));
  logErrorEvents(worker, 'worker.error', deps.connection, deps.logger);
  return worker;
}
