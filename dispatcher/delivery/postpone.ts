import { DelayedError, type Job } from 'bullmq';
import type { Logger } from '../../shared/observability/logger.js';
import { RepeatThrottle } from '../../shared/observability/repeat-throttle.js';
import { internal, type InternalError } from './internal-error.js';
import type { DispatcherMetrics } from '../metrics.js';

/** How long an event waits while the breaker holds the endpoint down; the breaker's pause decides when work resumes. */
export const ENDPOINT_DOWN_DELAY_MS = 1_000;
/** How long a job waits after our own failure (Redis) around its attempt. */
const INTERNAL_ERROR_DELAY_MS = 1_000;
/** A failing Redis fails every job at once: one warning per operation and code every 10 s, with the count of the others. */
const internalErrorWarnings = new RepeatThrottle(10_000);

/** Back to the delayed set without spending an attempt (BullMQ counts DelayedError as no attempt). */
export async function postpone(job: Job, token: string | undefined, delayMs: number, metrics: DispatcherMetrics): Promise<never> {
  await internal('postpone', () => job.moveToDelayed(Date.now() + delayMs, token));
  metrics.postponed();
  throw new DelayedError();
}

/**
 * After our own failure around an attempt: postponed, never charged. When
 * Redis refuses even the move, the job is left as it is (active, its lock no
 * longer renewed): BullMQ's stalled-job check puts it back in the queue once
 * the lock expires, without charging an attempt either (it counts a stall).
 */
export async function postponeAfterInternalError(job: Job, token: string | undefined, error: InternalError, metrics: DispatcherMetrics, logger: Logger): Promise<never> {
  metrics.internalError(error.operation);
  const context = { jobId: job.id, operation: error.operation, code: error.code, err: { message: error.cause instanceof Error ? error.cause.message : String(error.cause) } };
  let moved = true;
  try {
    await job.moveToDelayed(Date.now() + INTERNAL_ERROR_DELAY_MS, token);
    metrics.postponed();
  } catch (moveError) {
    moved = false;
    Object.assign(context, { moveErr: { message: (moveError as Error).message } });
  }
  const msg = moved ? 'delivery.internal_error' : 'delivery.internal_error_unmoved';
  const admitted = internalErrorWarnings.admit(`${msg}:${error.operation}:${error.code}`);
  if (admitted) logger.warn({ ...context, ...(admitted.repeated ? { repeated: admitted.repeated } : {}) }, msg);
  else logger.debug(context, msg);
  throw new DelayedError();
}
