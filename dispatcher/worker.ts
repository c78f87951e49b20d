import { UnrecoverableError, Worker } from 'bullmq';
import { logErrorEvents, type RedisClient } from '../shared/redis.js';
import type { Logger } from '../shared/logger.js';
import { QUEUE_NAME, queuePrefix, type EventJob } from '../shared/queue.js';
import { retryDelayMs, type RetryPolicy } from './backoff.js';
import type { createDeliver } from './deliver.js';
import type { DispatcherMetrics } from './metrics.js';

export interface DeliveryWorkerOptions {
  connectorId: string;
  concurrency: number;
  retry: RetryPolicy;
  /** How long a job stays claimed without a lock renewal; also the stalled-job check interval. */
  lockDurationMs: number;
}

export interface DeliveryWorkerDeps {
  connection: RedisClient;
  deliver: ReturnType<typeof createDeliver>;
  metrics: DispatcherMetrics;
  logger: Logger;
}

/** Completed jobs kept for inspection (bull-board); failed jobs are all kept (BullMQ's default). */
const KEEP_COMPLETED = 1_000;
/** A job whose dispatcher died this many times in a row fails instead of stalling forever. */
const MAX_STALLED = 10;

export function createDeliveryWorker(options: DeliveryWorkerOptions, deps: DeliveryWorkerDeps): Worker<EventJob> {
  const worker = new Worker<EventJob>(QUEUE_NAME, deps.deliver, {
    connection: deps.connection,
    prefix: queuePrefix(options.connectorId),
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.lockDurationMs,
    maxStalledCount: MAX_STALLED,
    removeOnComplete: { count: KEEP_COMPLETED },
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
