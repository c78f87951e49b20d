import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { WholeLines } from '../../ingester/stream/whole-lines.js';
import { createRng } from '../helpers/stix-fixtures.js';

const STREAM = Buffer.from(
  Array.from({ length: 200 }, (_, n) => `event: create\nid: ${n}-0\ndata: {"n":${n},"name":"Größe 東京 😀 ${'x'.repeat(n * 7)}"}\n\n`).join('') +
    ': a comment\r\nevent: heartbeat\r\nid: 999-0\r\ndata: \r\n\r\n' +
    'event: update\nid: 1000-0\ndata: {"unfinished":',
);

function chunks(random: () => number, bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(random() * (random() < 0.2 ? 3 : 2_000));
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

function parse(parts: readonly Uint8Array[]): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  const decoder = new TextDecoder();
  for (const part of parts) parser.feed(decoder.decode(part, { stream: true }));
  return events;
}

describe('WholeLines', () => {
  it('hands every byte over once, in order, each part ending on a line feed but the rest', () => {
    for (let seed = 0; seed < 50; seed += 1) {
      const lines = new WholeLines();
      const handed: Uint8Array[] = [];
      for (const chunk of chunks(createRng('whole-lines', seed), STREAM)) {
        for (const part of lines.cut(chunk)) {
          assert.equal(part.at(-1), 0x0a);
          handed.push(part);
        }
      }
      const rest = lines.rest();
      assert.deepEqual(Buffer.concat([...handed, ...rest]), STREAM, `seed ${seed}`);
      assert.equal(Buffer.concat(rest).toString(), 'data: {"unfinished":');
    }
  });

  it('gives eventsource-parser the same events as the raw chunks, multi-byte characters split or not', () => {
    const random = createRng('whole-lines-parse');
    const raw = chunks(random, STREAM);
    const lines = new WholeLines();
    const cut = [...raw.flatMap((chunk) => lines.cut(chunk)), ...lines.rest()];
    const expected = parse(raw);
    assert.equal(expected.length, 201);
    assert.deepEqual(parse(cut), expected);
  });
});
