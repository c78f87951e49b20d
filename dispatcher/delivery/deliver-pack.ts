import { UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { Logger } from '../../shared/observability/logger.js';
import { EVENT_JOB_OPTIONS, PackJobSchema, type PackedEvent } from '../../shared/queue/contract.js';
import type { Attempted, createAttempt } from './attempt.js';
import { retryDelayMs, type RetryPolicy } from '../../shared/timing/backoff.js';
import type { EndpointBreaker } from '../endpoint/breaker.js';
import { internal } from './internal-error.js';
import type { DispatcherMetrics } from '../metrics.js';
import { ENDPOINT_DOWN_DELAY_MS, postpone } from './postpone.js';

/** A completed pack's return value (shown by bull-board; the CLI's last delivery skips packs with nothing done). */
export interface PackResult {
  /** Events delivered or filtered out by this run. */
  done: number;
  /** Events that left the pack for jobs of their own. */
  unpacked: number;
}

export interface PackDeliveryDeps {
  attempt: ReturnType<typeof createAttempt>;
  /** Where an event that was not delivered goes on as a job of its own. */
  queue: Queue;
  breaker: EndpointBreaker;
  retry: RetryPolicy;
  metrics: DispatcherMetrics;
  logger: Logger;
  /** True once the worker is closing (SIGTERM): a pack then hands its remaining events over instead of holding the shutdown. */
  closing?: () => boolean;
}

/**
 * Delivers a pack (shared/queue/contract.ts): its events one after the other
 * in one consumer_count slot, the job's `progress` written after each. What
 * happens to an event that is not delivered, to a pack during an outage, a
 * shutdown or a crash: docs/architecture.md ("Packs: several events per job");
 * a 4xx follows the rules of deliver.ts, Redis errors are postponed uncharged
 * there too.
 */
export function createPackDelivery({ attempt, queue, breaker, retry, metrics, logger, closing }: PackDeliveryDeps) {
  const ownBudget = { ...retry, attempts: retry.attempts + 1 };

  /** The event's own job; added (and awaited) before the progress passes the event, so a crash cannot lose it. */
  async function leavePack({ id, ...event }: PackedEvent, outcome: Exclude<Attempted, { kind: 'done' | 'endpoint_down' }>, packId: string): Promise<void> {
    const delay = outcome.kind === 'failed' ? retryDelayMs(1, ownBudget, outcome.retryAfterMs) : outcome.kind === 'refused' ? retry.baseDelayMs : 0;
    await internal('unpack', () => queue.add(event.event, event, { ...EVENT_JOB_OPTIONS, jobId: id, delay }));
    if (outcome.kind === 'failed') metrics.retried();
    else metrics.postponed();
    logger.debug({ jobId: id, packId, outcome: outcome.kind, delayMs: delay }, 'delivery.unpacked');
  }

  return async (job: Job, token?: string): Promise<PackResult> => {
    const parsed = PackJobSchema.safeParse(job.data);
    if (!parsed.success || job.id === undefined) throw new UnrecoverableError('job data is not a pack of OpenCTI events (was it added by hand?)');
    const packId = job.id;
    const { events } = parsed.data;
    const result: PackResult = { done: 0, unpacked: 0 };
    for (let index = settled(job.progress); index < events.length; index += 1) {
      if (closing?.()) {
        // Back to the queue at once, for another dispatcher or the restart; waiting for the lock to expire would delay these events by tens of seconds.
        await internal('progress', () => job.updateProgress(index));
        return postpone(job, token, 0, metrics);
      }
      const event = events[index]!;
      const outcome: Attempted = breaker.state === 'paused' ? { kind: 'endpoint_down' } : await attempt(event.id, event, 1);
      if (outcome.kind === 'endpoint_down') {
        await internal('progress', () => job.updateProgress(index));
        return postpone(job, token, ENDPOINT_DOWN_DELAY_MS, metrics);
      }
      if (outcome.kind === 'done') result.done += 1;
      else {
        await leavePack(event, outcome, packId);
        result.unpacked += 1;
      }
      // Not awaited: the next request need not wait for it. The connection keeps
      // it ahead of the completion; lost in a crash, it costs a duplicate.
      if (index + 1 < events.length) job.updateProgress(index + 1).catch(() => undefined);
    }
    return result;
  };
}

/** Events of the pack already settled by an earlier run (the job's progress). */
function settled(progress: unknown): number {
  return typeof progress === 'number' && Number.isInteger(progress) && progress > 0 ? progress : 0;
}
