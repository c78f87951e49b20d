import { UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { Logger } from '../../shared/observability/logger.js';
import { EVENT_JOB_OPTIONS, PackJobSchema, type PackedEvent } from '../../shared/queue/contract.js';
import type { Attempted, createAttempt } from './attempt.js';
import { retryDelayMs, type RetryPolicy } from '../../shared/timing/backoff.js';
import type { EndpointBreaker } from '../endpoint/breaker.js';
import { internal } from './internal-error.js';
import type { DispatcherMetrics } from '../metrics.js';
import { PackSettlement } from './pack-progress.js';
import { ENDPOINT_DOWN_DELAY_MS, postpone } from './postpone.js';
import type { RequestSlots } from './request-slots.js';

/** A completed pack's return value (shown by bull-board; the CLI's last delivery skips packs with nothing done). */
export interface PackResult {
  /** Events delivered or filtered out by this run. */
  done: number;
  /** Events that left the pack for jobs of their own. */
  unpacked: number;
}

export interface PackDeliveryDeps {
  attempt: ReturnType<typeof createAttempt>;
  /** The destination's request slots, shared with its single-event jobs. */
  slots: RequestSlots;
  /** Where an event that was not delivered goes on as a job of its own. */
  queue: Queue;
  /** Writes a pack's progress (progressWriter in shared/queue/bullmq-internals.ts). */
  writeProgress: (jobId: string, progress: unknown) => Promise<unknown>;
  breaker: EndpointBreaker;
  retry: RetryPolicy;
  metrics: DispatcherMetrics;
  logger: Logger;
  /** True once the worker is closing (SIGTERM): a pack then hands its remaining events over instead of holding the shutdown. */
  closing?: () => boolean;
}

/** Why a pack stopped starting events before the end. */
type Halt = { kind: 'closing' } | { kind: 'endpoint_down' } | { kind: 'error'; error: unknown };

/**
 * Delivers a pack (shared/queue/contract.ts): all of its unsettled events at
 * once, each waiting for one of the destination's request slots (first come,
 * first served), so a pack never holds the destination to one request at a
 * time and never sends more than its concurrency either. What happens to an
 * event that is not delivered, to a pack during an outage, a shutdown or a
 * crash: docs/architecture.md ("Packs: several events per job"); a 4xx
 * follows the rules of deliver.ts, Redis errors are postponed uncharged there
 * too.
 */
export function createPackDelivery({ attempt, slots, queue, writeProgress, breaker, retry, metrics, logger, closing }: PackDeliveryDeps) {
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
    const settlement = new PackSettlement(job.progress, events.length, (progress) => writeProgress(packId, progress));
    const result: PackResult = { done: 0, unpacked: 0 };
    let halt: Halt | undefined;

    // While the breaker probes, the pack's events go one at a time, each a probe: the queue then runs
    // one job at a time (breaker.ts), and a pack must not turn one probe into twenty requests.
    let probeTurn: Promise<void> = Promise.resolve();

    /** One event, in its slot; once the pack halts, events not started yet are left for the pack's next run. */
    const deliverOne = async (event: PackedEvent, index: number): Promise<void> => {
      let endTurn: (() => void) | undefined;
      if (!halt && breaker.state === 'probing') {
        const previous = probeTurn;
        probeTurn = new Promise((resolve) => {
          endTurn = resolve;
        });
        await previous;
      }
      try {
        // Checked in the slot, right before the request: the breaker may have opened, or a shutdown begun, while it waited.
        if (!halt && closing?.()) halt = { kind: 'closing' };
        else if (!halt && breaker.state === 'paused') halt = { kind: 'endpoint_down' };
        if (halt) return;
        const outcome = await attempt(event.id, event, 1);
        if (outcome.kind === 'endpoint_down') {
          halt ??= outcome;
          return;
        }
        if (outcome.kind === 'done') result.done += 1;
        else {
          await leavePack(event, outcome, packId);
          result.unpacked += 1;
        }
        settlement.settle(index);
      } catch (error) {
        halt ??= { kind: 'error', error };
      } finally {
        endTurn?.();
      }
    };

    const runs: Promise<void>[] = [];
    events.forEach((event, index) => {
      if (!settlement.isSettled(index)) runs.push(slots.run(() => deliverOne(event, index)));
    });
    // Never rejects: each event's failure is kept in `halt`, so the events in flight all finish before the pack moves.
    await Promise.all(runs);
    if (halt === undefined) return result;
    if (halt.kind === 'error') {
      // Our own failure (Redis, a bug): deliver.ts postpones the pack uncharged. What settled is kept if Redis takes it.
      await settlement.flush().catch(() => undefined);
      throw halt.error;
    }
    await internal('progress', () => settlement.flush());
    // Closing: back to the queue at once, for another dispatcher or the restart; waiting for the lock to expire would delay these events by tens of seconds.
    return postpone(job, token, halt.kind === 'closing' ? 0 : ENDPOINT_DOWN_DELAY_MS, metrics);
  };
}
