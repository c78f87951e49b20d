import { packProgress, settledEvents, type PackProgress } from '../../shared/queue/contract.js';

/** Writes a job's progress; see progressWriter in shared/queue/bullmq-internals.ts. */
export type WriteProgress = (progress: unknown) => Promise<unknown>;

/**
 * The settled events of one pack being delivered, and their record in the
 * job's `progress` (PackProgress in shared/queue/contract.ts). Writes are
 * coalesced: at most one is in flight, and when it lands the newest state is
 * written if it changed since, so a pack whose events answer together costs
 * one write, not one per event. What a crash can cost is unchanged: an event
 * is recorded one Redis round trip after it settled, as a single job's
 * completion is, and only events settled in that last moment are sent again.
 * Nothing is written once every event is settled: the pack's completion follows.
 */
export class PackSettlement {
  readonly #settled: boolean[];
  readonly #write: WriteProgress;
  #left: number;
  /** The progress last sent (or read from the job): what Redis holds once the write in flight lands. */
  #sent: string;
  #inFlight: Promise<void> | undefined;

  constructor(progress: unknown, count: number, write: WriteProgress) {
    this.#settled = settledEvents(progress, count);
    this.#left = this.#settled.filter((settled) => !settled).length;
    this.#sent = JSON.stringify(packProgress(this.#settled));
    this.#write = write;
  }

  /** Whether the event at `index` was settled, by this run or an earlier one. */
  isSettled(index: number): boolean {
    return this.#settled[index] === true;
  }

  /** Records an event as settled; the write goes out in the background (a lost one costs a duplicate after a crash, never an event). */
  settle(index: number): void {
    if (this.#settled[index]) return;
    this.#settled[index] = true;
    this.#left -= 1;
    if (this.#left > 0) this.#send();
  }

  /** Resolves once Redis holds every settlement made so far; rejects when that write fails. */
  async flush(): Promise<void> {
    while (this.#inFlight) await this.#inFlight;
    const progress = this.#unsent();
    if (progress === undefined) return;
    try {
      await this.#write(progress);
    } catch (error) {
      this.#sent = '';
      throw error;
    }
  }

  #send(): void {
    if (this.#inFlight) return;
    const progress = this.#unsent();
    if (progress === undefined) return;
    this.#inFlight = this.#write(progress).then(
      () => {
        this.#inFlight = undefined;
        if (this.#left > 0) this.#send();
      },
      () => {
        // Not retried in a loop against a failing Redis: the next settlement or the flush writes again.
        this.#sent = '';
        this.#inFlight = undefined;
      },
    );
  }

  /** The progress to write now, recorded as sent; undefined when Redis holds (or is being sent) the same. */
  #unsent(): PackProgress | undefined {
    const progress = packProgress(this.#settled);
    const json = JSON.stringify(progress);
    if (json === this.#sent) return undefined;
    this.#sent = json;
    return progress;
  }
}
