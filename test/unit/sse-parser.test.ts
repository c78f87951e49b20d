import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createParser } from 'eventsource-parser';
import type { RawFrame } from '../../ingester/stream/frame.js';
import { SseParser } from '../../ingester/stream/sse-parser.js';
import { createRng } from '../helpers/stix-fixtures.js';

/** What the product read until issue #16: eventsource's TextDecoder, then eventsource-parser, then its MessageEvent fields. */
function oracle(chunks: readonly Uint8Array[]): RawFrame[] {
  const frames: RawFrame[] = [];
  const parser = createParser({ onEvent: (event) => frames.push({ event: event.event || 'message', id: event.id || '', data: event.data }) });
  const decoder = new TextDecoder();
  for (const chunk of chunks) parser.feed(decoder.decode(chunk, { stream: true }));
  return frames;
}

function parsed(chunks: readonly Uint8Array[]): RawFrame[] {
  const frames: RawFrame[] = [];
  const parser = new SseParser((frame) => frames.push(frame));
  for (const chunk of chunks) parser.feed(chunk);
  return frames;
}

const PIECES = ['a', 'Z', '0', ' ', ':', '"', '{', '}', '\\', 'é', '東', '😀', '\u0000', '\u2028', '\ufeff'];
const INVALID = [[0xff], [0xc3], [0xe6, 0x9d], [0xf0, 0x9f, 0x98], [0xed, 0xa0, 0x80], [0x80], [0xc0, 0xaf]];
const ENDINGS = ['\n', '\r', '\r\n'];

function randomText(random: () => number, max: number): Buffer {
  const parts: Buffer[] = [];
  const length = Math.floor(random() * max);
  for (let index = 0; index < length; index += 1) {
    if (random() < 0.05) parts.push(Buffer.from(INVALID[Math.floor(random() * INVALID.length)]!));
    else parts.push(Buffer.from(PIECES[Math.floor(random() * PIECES.length)]!));
  }
  return Buffer.concat(parts);
}

/** A stream with every kind of line the grammar has, and some it does not. */
function randomStream(random: () => number): Buffer {
  const lines: Buffer[] = [];
  if (random() < 0.2) lines.push(Buffer.from([0xef, 0xbb, 0xbf]));
  const ending = () => Buffer.from(ENDINGS[Math.floor(random() * ENDINGS.length)]!);
  const count = 20 + Math.floor(random() * 60);
  for (let index = 0; index < count; index += 1) {
    const kind = random();
    let line: Buffer;
    if (kind < 0.3) line = Buffer.concat([Buffer.from(random() < 0.8 ? 'data: ' : 'data:'), randomText(random, 40)]);
    else if (kind < 0.4) line = Buffer.concat([Buffer.from('event: '), Buffer.from(['create', 'update', 'heartbeat', '', 'x y'][Math.floor(random() * 5)]!)]);
    else if (kind < 0.5) line = Buffer.concat([Buffer.from(random() < 0.5 ? 'id: ' : 'id:'), randomText(random, 12)]);
    else if (kind < 0.55) line = Buffer.from(['data', 'event', 'id', 'retry', 'unknown'][Math.floor(random() * 5)]!);
    else if (kind < 0.6) line = Buffer.concat([Buffer.from(': '), randomText(random, 20)]);
    else if (kind < 0.65) line = Buffer.concat([Buffer.from('retry: '), randomText(random, 5)]);
    else if (kind < 0.7) line = randomText(random, 15);
    else line = Buffer.alloc(0);
    lines.push(line, ending());
  }
  if (random() < 0.5) lines.push(Buffer.from('data: unfinished'));
  return Buffer.concat(lines);
}

function randomChunks(random: () => number, bytes: Buffer): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = random() < 0.3 ? 1 + Math.floor(random() * 3) : 1 + Math.floor(random() * 200);
    // A Uint8Array over a larger ArrayBuffer, as undici hands them over sometimes.
    const padded = new Uint8Array(size + 8);
    padded.set(bytes.subarray(at, at + size), 4);
    chunks.push(padded.subarray(4, 4 + Math.min(size, bytes.length - at)));
    at += size;
  }
  return chunks;
}

describe('SseParser', () => {
  it('hands over the frames eventsource did, for random streams cut anywhere (CR, CRLF, BOM, invalid UTF-8)', () => {
    for (let seed = 0; seed < 400; seed += 1) {
      const random = createRng('sse-parser', seed);
      const stream = randomStream(random);
      const chunks = randomChunks(random, stream);
      assert.deepEqual(parsed(chunks), oracle(chunks), `seed ${seed}`);
      assert.deepEqual(parsed([stream]), oracle([stream]), `seed ${seed}, one chunk`);
    }
  });

  it('reads OpenCTI frames: event, id and a one-line JSON body, with an empty id when the frame had none', () => {
    const stream = Buffer.from('event: connected\ndata: {"a":1}\n\n: keepalive\n\nevent: create\nid: 1700000000000-3\ndata: {"name":"Größe 東京"}\n\nevent: heartbeat\nid: 1700000000001-0\ndata: \n\n');
    assert.deepEqual(parsed([stream]), [
      { event: 'connected', id: '', data: '{"a":1}' },
      { event: 'create', id: '1700000000000-3', data: '{"name":"Größe 東京"}' },
      { event: 'heartbeat', id: '1700000000001-0', data: '' },
    ]);
  });

  it('joins several data lines with a line feed, and calls a frame without an event name a message', () => {
    assert.deepEqual(parsed([Buffer.from('data: a\ndata: b\n\n')]), [{ event: 'message', id: '', data: 'a\nb' }]);
  });
});
