/** Most jobs remembered (one byte each). */
const MAX_REMEMBERED = 1_000_000;

/**
 * How many events each of the last jobs this ingester wrote held (packs: see
 * commit/job-packing.ts). The queue is FIFO, so the jobs waiting in it are, but for
 * retries, the newest ones written: their events are the sizes of the newest
 * jobs. Jobs beyond what is remembered (written before this process led)
 * count as `unknownSize`, the most a job may hold, so the estimate errs high.
 */
export class RecentJobSizes {
  readonly #sizes: Uint8Array;
  #next = 0;
  #filled = 0;

  constructor(
    capacity: number,
    private readonly unknownSize: number,
  ) {
    this.#sizes = new Uint8Array(Math.max(1, Math.min(capacity, MAX_REMEMBERED)));
  }

  record(events: number): void {
    this.#sizes[this.#next] = events;
    this.#next = (this.#next + 1) % this.#sizes.length;
    this.#filled = Math.min(this.#filled + 1, this.#sizes.length);
  }

  /** Events held by the newest `jobs` jobs. */
  eventsInNewest(jobs: number): number {
    const known = Math.min(jobs, this.#filled);
    let events = (jobs - known) * this.unknownSize;
    for (let back = 1; back <= known; back += 1) events += this.#sizes[(this.#next - back + this.#sizes.length) % this.#sizes.length]!;
    return events;
  }
}
