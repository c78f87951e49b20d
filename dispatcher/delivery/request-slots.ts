/**
 * A destination's request slots in this process: at most `size` webhook
 * requests in flight at once (CONNECTOR_CONSUMER_COUNT means concurrent
 * deliveries), handed out first come, first served. Every event takes one
 * around its attempt, whether it is a job of its own or one of a pack's
 * events, so a pack's events go out side by side without ever adding to what
 * the destination was given. Witness probes (endpoint/witness.ts) take none:
 * they run inside an event's slot, or between events.
 */
export class RequestSlots {
  #free: number;
  /** Waiters in arrival order; `#head` skips those already served, so a long queue is not shifted each time. */
  #waiting: Array<() => void> = [];
  #head = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`request slots: size must be a positive integer, got ${size}`);
    this.#free = size;
  }

  /** Requests waiting for a slot (for tests and metrics). */
  get waiting(): number {
    return this.#waiting.length - this.#head;
  }

  /**
   * Takes a slot: undefined when one was free (nothing to wait for on the hot
   * path), else a promise resolved once it is this caller's turn. Every slot
   * taken must be given back with {@link release}, exactly once.
   */
  acquire(): Promise<void> | undefined {
    if (this.#free > 0) {
      this.#free -= 1;
      return undefined;
    }
    return new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  /** Gives a slot back: to the longest waiter if any (the slot passes on, never free in between). */
  release(): void {
    if (this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head]!;
      this.#head += 1;
      if (this.#head === this.#waiting.length) {
        this.#waiting = [];
        this.#head = 0;
      }
      next();
      return;
    }
    if (this.#free >= this.size) throw new Error('request slots: released more slots than were taken');
    this.#free += 1;
  }

  /** Runs `work` in a slot, given back however `work` ends. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.acquire();
    if (turn !== undefined) await turn;
    try {
      return await work();
    } finally {
      this.release();
    }
  }
}
