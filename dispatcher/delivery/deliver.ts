import { DelayedError, UnrecoverableError, type Job, type Queue } from 'bullmq';
import { ErrorCode } from '../../shared/errors/codes.js';
import { OwhError } from '../../shared/errors/owh-error.js';
import { EventJobSchema, PACK_JOB_NAME, type EventJob } from '../../shared/queue/contract.js';
import { createAttempt, type AttemptDeps } from './attempt.js';
import type { RetryPolicy } from '../../shared/timing/backoff.js';
import { createPackDelivery, type PackResult } from './deliver-pack.js';
import type { EntityOrder } from './entity-order.js';
import { InternalError } from './internal-error.js';
import { ENDPOINT_DOWN_DELAY_MS, postpone, postponeAfterInternalError } from './postpone.js';
import type { RequestSlots } from './request-slots.js';
import { Witness } from '../endpoint/witness.js';

export interface DeliverDeps extends Omit<AttemptDeps, 'witness'> {
  retry: RetryPolicy;
  /** Where events that fail inside a pack go on as jobs of their own. */
  queue: Queue;
  /** The destination's request slots (CONNECTOR_CONSUMER_COUNT requests in flight at most); every attempt holds one. */
  slots: RequestSlots;
  /** Writes a pack's progress (progressWriter in shared/queue/bullmq-internals.ts). */
  writeProgress: (jobId: string, progress: unknown) => Promise<unknown>;
  /** Per-entity ordering of the events the ingester lined up (those carrying `entity`). */
  order?: EntityOrder | undefined;
  /** True once the worker is closing; see deliver-pack.ts. */
  closing?: () => boolean;
}

/** A failed attempt charged to the event; BullMQ schedules the retry (see backoff.ts). */
export class DeliveryError extends OwhError {
  readonly code = ErrorCode.webhookFailed;
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * The BullMQ processor. A pack goes to deliverPack; an event job is one
 * attempt, whose outcome becomes a BullMQ move: waits go back to the delayed
 * set without spending an attempt, a rejection fails the job for good, a
 * failure is charged and BullMQ schedules the retry (see backoff.ts).
 * Anything else thrown is our failure (Redis, a bug), never the event's: the
 * job is postponed uncharged, as in an endpoint outage.
 */
export function createDeliver(deps: DeliverDeps) {
  const attempt = createAttempt({ ...deps, witness: new Witness(deps) });
  const deliverPack = createPackDelivery({ ...deps, attempt });
  const { order, retry, metrics, logger, slots } = deps;

  const deliverEvent = async (job: Job, token: string | undefined): Promise<undefined> => {
    const parsed = EventJobSchema.safeParse(job.data);
    if (!parsed.success || job.id === undefined) throw new UnrecoverableError('job data is not an OpenCTI event (was it added by hand?)');
    const { entity } = parsed.data;
    // A filtered event needs no turn: it leaves its line when it completes. An event that is not its object's turn parks in claim.
    const claim = order && entity !== undefined ? () => order.claim(job as Job<EventJob>, token, entity) : undefined;
    const id = job.id;
    const outcome = await slots.run(() => attempt(id, parsed.data, job.attemptsMade + 1, claim));
    switch (outcome.kind) {
      case 'done':
        return undefined;
      case 'endpoint_down':
        return postpone(job, token, ENDPOINT_DOWN_DELAY_MS, metrics);
      case 'refused':
        return postpone(job, token, retry.baseDelayMs, metrics);
      case 'rejected':
        throw new UnrecoverableError(outcome.message);
      case 'failed':
        throw new DeliveryError(outcome.message, outcome.retryAfterMs);
    }
  };

  return async (job: Job, token?: string): Promise<PackResult | undefined> => {
    try {
      return await (job.name === PACK_JOB_NAME ? deliverPack(job, token) : deliverEvent(job, token));
    } catch (error) {
      if (error instanceof DelayedError || error instanceof UnrecoverableError || error instanceof DeliveryError) throw error;
      return postponeAfterInternalError(job, token, error instanceof InternalError ? error : new InternalError('other', error), metrics, logger);
    }
  };
}
