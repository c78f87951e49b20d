import type { Queue } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import type { RecentJobSizes } from './recent-job-sizes.js';

/** The events read but not yet in the queue (the enqueuer). */
export interface ReadCounter {
  /** Events taken from the stream so far. */
  readonly admitted: number;
  /** Of those, the ones not yet committed to the queue. */
  readonly backlog: number;
}

export interface QueueDepthGateOptions {
  /** Pending events above which reading stops. */
  highWaterMark: number;
  /** Pending events below which reading resumes. */
  lowWaterMark: number;
  /** How often the depth is read, at most. @defaultValue 1000 */
  checkIntervalMs?: number;
}

/**
 * Stops the stream reader while the queue holds too many undelivered events
 * (a long endpoint outage), so Redis memory stays bounded; the platform keeps
 * the events meanwhile. Reading resumes below the low mark (hysteresis, so it
 * does not flap). The check sits on the per-chunk path, so the depth is read
 * from Redis at most once per interval; in between it is estimated from the
 * events read since (a fast reader fills thousands of events in an interval).
 */
export class QueueDepthGate {
  readonly #options: Required<QueueDepthGateOptions>;
  #checkedAt = 0;
  /** Depth read at the last check, with the reader's buffer; and the reader's count then. */
  #depthAtCheck = 0;
  #admittedAtCheck = 0;
  #closed = false;
  #waiting: Promise<void> | undefined;
  #stopped = false;
  /** Ends the wait between two depth reads at once (stop). */
  #wake: (() => void) | undefined;

  constructor(
    private readonly queue: Queue,
    private readonly reader: ReadCounter,
    /** Events per queued job (packs hold several). */
    private readonly jobSizes: Pick<RecentJobSizes, 'eventsInNewest'>,
    private readonly logger: Logger,
    options: QueueDepthGateOptions,
    private readonly onChange?: (closed: boolean) => void,
  ) {
    this.#options = { checkIntervalMs: 1_000, ...options };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves when the queue has room; the stream reader awaits it before each read. */
  async waitForRoom(): Promise<void> {
    if (this.#waiting) return this.#waiting;
    const estimate = this.#depthAtCheck + this.reader.admitted - this.#admittedAtCheck;
    if (estimate < this.#options.highWaterMark && Date.now() - this.#checkedAt < this.#options.checkIntervalMs) return;
    const depth = await this.#depth();
    if (depth < this.#options.highWaterMark) return;
    this.#waiting ??= this.#waitBelowLowMark(depth).finally(() => (this.#waiting = undefined));
    return this.#waiting;
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  async #waitBelowLowMark(depth: number): Promise<void> {
    this.#setClosed(true);
    this.logger.warn({ queued: depth, highWaterMark: this.#options.highWaterMark, hint: 'the queue is full; reading resumes when it drains' }, 'stream.paused');
    while (!this.#stopped && (await this.#depth()) > this.#options.lowWaterMark) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#options.checkIntervalMs);
        this.#wake = () => (clearTimeout(timer), resolve());
      });
    }
    this.logger.info('stream.resumed');
    this.#setClosed(false);
  }

  /** Queued plus buffered events. The buffer is read first: a commit in between counts twice, never zero times. */
  async #depth(): Promise<number> {
    this.#checkedAt = Date.now();
    this.#admittedAtCheck = this.reader.admitted;
    const buffered = this.reader.backlog;
    // Active jobs too (BullMQ's count() leaves them out): a pack being delivered holds up to a pack of events.
    const jobs = await this.queue.getJobCountByTypes('waiting', 'delayed', 'prioritized', 'waiting-children', 'active');
    this.#depthAtCheck = buffered + this.jobSizes.eventsInNewest(jobs);
    return this.#depthAtCheck;
  }

  #setClosed(closed: boolean): void {
    this.#closed = closed;
    this.onChange?.(closed);
  }
}
