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
 * (pinned by test/unit/job-data.test.ts). A slab is freed once the last job
 * written into it is (its commit has been sent and answered); the enqueuer
 * keeps one writer, so small commits share a slab.
 */
export class JobDataWriter {
  #slab = Buffer.allocUnsafeSlow(0);
  #used = 0;

  write(data: QueuedJobData): Buffer {
    if (!('events' in data)) return this.#write([JSON.stringify(data)], '', '');
    return this.#write(data.events.map((event) => JSON.stringify(event)), PACK_OPEN, PACK_CLOSE);
  }

  #write(parts: readonly string[], open: string, close: string): Buffer {
    // A UTF-16 code unit never takes more than 3 bytes of UTF-8.
    let bound = open.length + close.length + parts.length;
    for (const part of parts) bound += part.length * 3;
    if (this.#slab.length - this.#used < bound) {
      this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, bound));
      this.#used = 0;
    }
    const slab = this.#slab;
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
}
