import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { Job, Queue } from 'bullmq';
import { ErrorCode } from '../../shared/errors/codes.js';
import { OwhError } from '../../shared/errors/owh-error.js';
import { FULL_RETRY_BUDGET } from '../../shared/queue/contract.js';
import type { RedisClient } from '../../shared/redis/client.js';
import type { BoardAudit } from './audit.js';
import { eventDataView, eventTitle } from './view.js';

/** States whose jobs were delivered (completed) or given up (failed): the only ones the board may remove. */
const REMOVABLE_STATES = new Set(['completed', 'failed']);
/** Ids per `board.dead_letters_discarded` line when a whole failed set is cleaned. */
const CLEAN_BATCH = 500;

/**
 * A board action that would delete undelivered events. The ingester's stream
 * position is already past them, so nothing short of re-reading OpenCTI would
 * bring them back: refused in every mode.
 */
export class BoardRefusedError extends OwhError {
  readonly code = ErrorCode.boardRefused;
  /** bull-board answers a thrown error with its `statusCode`. */
  readonly statusCode = 405;
}

export interface EventQueueAdapterOptions {
  readOnly: boolean;
  /** The destination whose queue this is: the board's label for the queue, and named in the audit. */
  destination: string;
  description: string;
  /** Redis key recording that an operator paused the queue (`destinationKeys().operatorPause`), so the endpoint breaker leaves it paused. */
  operatorPauseKey: string;
  redis: RedisClient;
  audit: BoardAudit;
}

/**
 * The event queue as bull-board shows it: readable titles and payloads, and
 * retries that give the event its full WEBHOOK_RETRY_ATTEMPTS again — the same
 * as `npm run cli -- replay`. bull-board acts only through this adapter and
 * the jobs it hands out (`job.retry`, `job.remove`), whatever route or button
 * asked, so the rules hold here:
 * - nothing undelivered is deleted: emptying and obliterating the queue are
 *   refused, and so are cleaning and removing any job that is not completed
 *   or failed, judged by the job's state when it is removed;
 * - discarding dead letters (the failed set) is allowed, and audited;
 * - a pause made here is recorded for the endpoint breaker, and a resume
 *   here clears that record.
 */
export class EventQueueAdapter extends BullMQAdapter {
  readonly #queue: Queue;
  readonly #options: EventQueueAdapterOptions;

  constructor(queue: Queue, options: EventQueueAdapterOptions) {
    super(queue, { readOnlyMode: options.readOnly, allowRetries: !options.readOnly, description: options.description, displayName: options.destination });
    this.#queue = queue;
    this.#options = options;
    this.setFormatter('name', (job: { name?: unknown; data?: unknown }) => eventTitle(job));
    this.setFormatter('data', (data: unknown) => eventDataView(data));
  }

  override async getJob(id: string): Promise<Job | undefined> {
    const job = await super.getJob(id);
    return job && this.#guarded(job);
  }

  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>): Promise<Job[]> {
    return (await super.getJobs(...args)).map((job) => this.#guarded(job));
  }

  override empty(): Promise<void> {
    return Promise.reject(new BoardRefusedError('emptying the queue would delete undelivered events; dead letters can be cleaned from the failed tab'));
  }

  override obliterate(): Promise<void> {
    return Promise.reject(new BoardRefusedError('obliterating the queue would delete undelivered events'));
  }

  /** bull-board keeps jobs that finished within `graceTimeMs` (5 s), so a page that is seconds old removes only what it showed. */
  override async clean(status: string, graceTimeMs: number): Promise<void> {
    if (!REMOVABLE_STATES.has(status)) throw new BoardRefusedError(`cleaning ${status} jobs would delete undelivered events; only completed and failed jobs can be cleaned`);
    if (status === 'completed') {
      await this.#queue.clean(graceTimeMs, Number.MAX_SAFE_INTEGER, 'completed');
      return;
    }
    for (;;) {
      const ids = await this.#queue.clean(graceTimeMs, CLEAN_BATCH, 'failed');
      this.#options.audit.deadLettersDiscarded(this.#options.destination, ids);
      if (ids.length < CLEAN_BATCH) return;
    }
  }

  override async pause(): Promise<void> {
    const record = JSON.stringify({ by: this.#options.audit.user, at: new Date().toISOString(), from: 'board' });
    // Recorded first: a breaker that sees the pause always sees who made it.
    await this.#options.redis.set(this.#options.operatorPauseKey, record);
    try {
      await super.pause();
    } catch (error) {
      // A record without a pause would stop the breaker resuming after an outage: take it back (Redis permitting).
      await this.#options.redis.del(this.#options.operatorPauseKey).catch(() => undefined);
      throw error;
    }
    this.#options.audit.queuePaused(this.#options.destination);
  }

  override async resume(): Promise<void> {
    // Cleared first: a resume that fails half-way leaves the queue paused with
    // no record, which the breaker may resume; the other order would leave a
    // running queue with a record that stops the breaker's own resumes.
    await this.#options.redis.del(this.#options.operatorPauseKey);
    await super.resume();
    this.#options.audit.queueResumed(this.#options.destination);
  }

  /** Retry with the full budget; remove only what is delivered or dead-lettered, by its state at that moment. */
  #guarded(job: Job): Job {
    const retry = job.retry.bind(job);
    job.retry = (state) => retry(state, FULL_RETRY_BUDGET);
    const remove = job.remove.bind(job);
    job.remove = async (options) => {
      const state = await job.getState();
      if (!REMOVABLE_STATES.has(state)) throw new BoardRefusedError(`job ${job.id} is ${state}: removing it would delete undelivered events; only completed and failed jobs can be removed`);
      await remove(options);
      if (state === 'failed') this.#options.audit.deadLettersDiscarded(this.#options.destination, [String(job.id)]);
    };
    return job;
  }
}
