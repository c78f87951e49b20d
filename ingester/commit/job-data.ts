import type { QueuedJobData } from '../../shared/queue/contract.js';

/** Smallest slab; a larger one is made for a job that needs more. */
const SLAB_BYTES = 1_048_576;
const COMMA = 0x2c;
const PACK_OPEN = '{"events":[';
const PACK_CLOSE = ']}';

/**
 * Writes job data as the UTF-8 bytes of `JSON.stringify(data)`, which is what
 * BullMQ stores and dispatchers parse, into slabs of memory shared by the jobs
 * of a commit. Two costs of the obvious `Buffer.from(JSON.stringify(data))`
 * go: the string is written once instead of measured, then copied; and a pack
 * is stringified event by event, not as one string, which V8 builds more
 * slowly once it is long and holds a non-Latin-1 character (half the cost of
 * a pack's JSON). The output is the same bytes: JSON.stringify writes an
 * array's objects one after the other, separated by commas, without spaces
 * (pinned by test/unit/job-data.test.ts).
 *
 * The slabs are written again by the next commit (`reuse`): fresh ones, one
 * per megabyte of job data, were most of the ingester's external memory
 * churn, and that churn, not the heap, set off most of its full GCs.
 */
export class JobDataWriter {
  /** Slabs of the current commit, in the order they are filled; kept for the next one. */
  #slabs: Buffer[] = [];
  /** The slab being filled, an index in `#slabs`, and how much of it is used. */
  #current = -1;
  #used = 0;

  /**
   * Starts a commit: what the previous one wrote may be overwritten. Only once
   * that commit is over (its transaction answered, or never sent): ioredis
   * reads the bytes when it writes the command, which may be later than the
   * call that queued it (offline queue, resend after a reconnect).
   */
  reuse(): void {
    this.#current = -1;
    this.#used = 0;
  }

  write(data: QueuedJobData): Buffer {
    if (!('events' in data)) return this.#write([JSON.stringify(data)], '', '');
    return this.#write(data.events.map((event) => JSON.stringify(event)), PACK_OPEN, PACK_CLOSE);
  }

  #write(parts: readonly string[], open: string, close: string): Buffer {
    // A UTF-16 code unit never takes more than 3 bytes of UTF-8.
    let bound = open.length + close.length + parts.length;
    for (const part of parts) bound += part.length * 3;
    const slab = this.#slabFor(bound);
    const start = this.#used;
    let at = start + slab.write(open, start, 'latin1');
    for (let index = 0; index < parts.length; index += 1) {
      if (index > 0) slab[at++] = COMMA;
      at += slab.write(parts[index]!, at, 'utf8');
    }
    at += slab.write(close, at, 'latin1');
    this.#used = at;
    return slab.subarray(start, at);
  }

  /** A slab with `bound` bytes free from `#used`: the current one, the next kept one, or a new one. */
  #slabFor(bound: number): Buffer {
    const current = this.#slabs[this.#current];
    if (current && current.length - this.#used >= bound) return current;
    this.#current += 1;
    this.#used = 0;
    const next = this.#slabs[this.#current];
    if (next && next.length >= bound) return next;
    const slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, bound));
    // In place of a kept slab too small for this job: the order of the slabs is the order they are filled.
    this.#slabs[this.#current] = slab;
    return slab;
  }
}
