import type { RawFrame } from './frame.js';

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const BOM = [0xef, 0xbb, 0xbf] as const;
const DATA = Buffer.from('data');
const EVENT = Buffer.from('event');
const ID = Buffer.from('id');

/**
 * Reads the SSE wire format (the WHATWG event-stream grammar, as the
 * eventsource package parsed it for the product until issue #16) from the
 * response's bytes, not from text: eventsource decoded every chunk into one
 * string, which eventsource-parser then copied again for the line that
 * straddled two chunks, and every event's data became a slice of it, two
 * bytes per character as soon as the chunk held one non-Latin-1 character.
 * Here only the values are decoded, each on its own, so a plain ASCII event
 * is a one-byte string: cheaper to hash, to serialise into its job and to
 * keep. UTF-8 is decoded as TextDecoder does (a BOM at the start of the stream
 * dropped, invalid sequences replaced by U+FFFD): a line is decoded whole,
 * and a line feed never falls inside a UTF-8 sequence.
 *
 * What it hands over is what eventsource did: one frame per blank line that
 * follows at least one `data` line, with the `event` (`message` when none)
 * and `id` (`''` when none; an id holding NUL is ignored) of that message
 * only. Lines end with LF, CR or CRLF; comments, `retry` and unknown fields
 * are ignored. Pinned against eventsource-parser by test/unit/sse-parser.test.ts.
 */
export class SseParser {
  /** Bytes of the line the last chunk ended in. */
  #partial: Buffer[] = [];
  /** The last chunk ended with CR: `#partial` holds a whole line, and a LF starting the next chunk ends no other. */
  #afterCr = false;
  /** Chunks that came after that CR without a line end. */
  #afterCrBytes: Buffer[] = [];
  #start = true;
  #event: string | undefined;
  #id: string | undefined;
  #data = '';
  #dataLines = 0;

  constructor(private readonly onFrame: (frame: RawFrame) => void) {}

  feed(chunk: Uint8Array): void {
    let bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#start) {
      bytes = this.#dropBom(bytes);
      if (this.#start) return;
    }
    let at = 0;
    if (this.#afterCr) {
      // As eventsource-parser: the held line waits for a chunk that ends a line too.
      if (bytes.indexOf(LF) === -1 && bytes.indexOf(CR) === -1) {
        this.#afterCrBytes.push(bytes);
        return;
      }
      this.#afterCr = false;
      if (this.#afterCrBytes.length > 0) {
        bytes = Buffer.concat([...this.#afterCrBytes, bytes]);
        this.#afterCrBytes = [];
      }
      if (bytes[0] === LF) at = 1;
      this.#partialLine();
    }
    let nextLf = bytes.indexOf(LF, at);
    let nextCr = bytes.indexOf(CR, at);
    while (at < bytes.length) {
      if (nextLf !== -1 && nextLf < at) nextLf = bytes.indexOf(LF, at);
      if (nextCr !== -1 && nextCr < at) nextCr = bytes.indexOf(CR, at);
      const end = nextCr === -1 ? nextLf : nextLf === -1 ? nextCr : Math.min(nextLf, nextCr);
      if (end === -1) {
        this.#partial.push(bytes.subarray(at));
        return;
      }
      if (bytes[end] === CR && end + 1 === bytes.length) {
        // CR, then maybe LF in the next chunk: the line is read once that one comes (as eventsource-parser does).
        this.#partial.push(bytes.subarray(at, end));
        this.#afterCr = true;
        return;
      }
      if (this.#partial.length === 0) this.#line(bytes, at, end);
      else {
        this.#partial.push(bytes.subarray(at, end));
        this.#partialLine();
      }
      at = end + 1;
      if (bytes[end] === CR && bytes[at] === LF) at += 1;
    }
  }

  /** Reads the line held in `#partial`. */
  #partialLine(): void {
    const line = this.#partial.length === 1 ? this.#partial[0]! : Buffer.concat(this.#partial);
    this.#partial = [];
    this.#line(line, 0, line.length);
  }

  /** Drops a UTF-8 BOM at the very start of the stream, which may arrive split over chunks. */
  #dropBom(bytes: Buffer): Buffer {
    const seen = this.#partial.reduce((sum, part) => sum + part.length, 0);
    let index = 0;
    while (seen + index < BOM.length && index < bytes.length && bytes[index] === BOM[seen + index]) index += 1;
    if (seen + index === BOM.length) {
      this.#start = false;
      this.#partial = [];
      return bytes.subarray(index);
    }
    if (index === bytes.length) {
      this.#partial.push(bytes);
      return bytes.subarray(bytes.length);
    }
    // Not a BOM: what was held back is the start of the first line.
    this.#start = false;
    const held = this.#partial;
    this.#partial = [];
    return held.length === 0 ? bytes : Buffer.concat([...held, bytes]);
  }

  #line(bytes: Buffer, start: number, end: number): void {
    if (start === end) {
      this.#dispatch();
      return;
    }
    if (bytes[start] === COLON) return;
    let colon = start;
    while (colon < end && bytes[colon] !== COLON) colon += 1;
    let valueStart = colon + 1;
    if (valueStart < end && bytes[valueStart] === SPACE) valueStart += 1;
    const value = colon === end ? '' : bytes.toString('utf8', valueStart, end);
    if (fieldIs(bytes, start, colon, DATA)) {
      this.#data = this.#dataLines === 0 ? value : `${this.#data}\n${value}`;
      this.#dataLines += 1;
    } else if (fieldIs(bytes, start, colon, EVENT)) {
      this.#event = value === '' ? undefined : value;
    } else if (fieldIs(bytes, start, colon, ID)) {
      if (!value.includes('\0')) this.#id = value;
    }
    // Anything else: `retry` (the reconnect delay is the client's own) and unknown fields.
  }

  #dispatch(): void {
    if (this.#dataLines > 0) this.onFrame({ event: this.#event ?? 'message', id: this.#id ?? '', data: this.#data });
    this.#event = undefined;
    this.#id = undefined;
    this.#data = '';
    this.#dataLines = 0;
  }
}

/** Whether the bytes from `start` to `end` are `field`'s name. */
function fieldIs(bytes: Buffer, start: number, end: number, field: Buffer): boolean {
  if (end - start !== field.length) return false;
  for (let index = 0; index < field.length; index += 1) if (bytes[start + index] !== field[index]) return false;
  return true;
}
