import type { KeepJobs } from 'bullmq';
import type { DispatcherConfig } from '../config.js';

/**
 * What BullMQ may delete from the failed set (dead letters), from
 * DISPATCHER_FAILED_RETENTION_COUNT and DISPATCHER_FAILED_RETENTION_AGE_MS.
 * Undefined, the default, keeps every dead letter: an event is dropped only
 * when an operator asked for it. BullMQ applies the worker's setting to jobs
 * that carry none of their own (ours never do), when a job fails for good.
 */
export function failedRetention({ failed_retention_count: count, failed_retention_age_ms: ageMs }: DispatcherConfig['dispatcher']): KeepJobs | undefined {
  if (ageMs !== undefined) return { age: Math.ceil(ageMs / 1000), ...(count === undefined ? {} : { count }) };
  return count === undefined ? undefined : { count };
}
