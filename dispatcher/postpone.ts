import { DelayedError, type Job } from 'bullmq';
import type { DispatcherMetrics } from './metrics.js';

/** How long an event waits while the breaker holds the endpoint down; the breaker's pause decides when work resumes. */
export const ENDPOINT_DOWN_DELAY_MS = 1_000;

/** Back to the delayed set without spending an attempt (BullMQ counts DelayedError as no attempt). */
export async function postpone(job: Job, token: string | undefined, delayMs: number, metrics: DispatcherMetrics): Promise<never> {
  metrics.postponed();
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}
