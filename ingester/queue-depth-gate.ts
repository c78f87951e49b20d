import type { Queue } from 'bullmq';
import type { Logger } from '../shared/logger.js';

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
 * does not flap). The depth is read at most once per interval: the check
 * sits on the per-chunk path.
 */
export class QueueDepthGate {
  readonly #options: Required<QueueDepthGateOptions>;
  #checkedAt = 0;
  #closed = false;
  #waiting: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly queue: Queue,
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
    if (Date.now() - this.#checkedAt < this.#options.checkIntervalMs) return;
    const depth = await this.#depth();
    if (depth < this.#options.highWaterMark) return;
    this.#waiting ??= this.#waitBelowLowMark(depth).finally(() => (this.#waiting = undefined));
    return this.#waiting;
  }

  stop(): void {
    this.#stopped = true;
  }

  async #waitBelowLowMark(depth: number): Promise<void> {
    this.#setClosed(true);
    this.logger.warn({ queued: depth, highWaterMark: this.#options.highWaterMark }, 'stream.paused: the queue is full; reading resumes when it drains');
    while (!this.#stopped && (await this.#depth()) > this.#options.lowWaterMark) {
      await new Promise((resolve) => setTimeout(resolve, this.#options.checkIntervalMs));
    }
    this.logger.info('stream.resumed');
    this.#setClosed(false);
  }

  async #depth(): Promise<number> {
    this.#checkedAt = Date.now();
    return this.queue.count();
  }

  #setClosed(closed: boolean): void {
    this.#closed = closed;
    this.onChange?.(closed);
  }
}
