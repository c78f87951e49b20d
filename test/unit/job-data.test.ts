import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobDataWriter } from '../../ingester/commit/job-data.js';
import type { EventJob, PackJob, QueuedJobData } from '../../shared/queue/contract.js';
import { createRng } from '../helpers/stix-fixtures.js';

// Characters JSON.stringify escapes or UTF-8 writes in 2, 3 or 4 bytes, a lone surrogate (escaped), and plain text.
const ALPHABET = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f', 'é', 'ß', '—', '東', '😀', '\ud800', '\udfff', '\u2028', '{', '}'];

function text(random: () => number, length: number): string {
  let out = '';
  for (let index = 0; index < length; index += 1) out += ALPHABET[Math.floor(random() * ALPHABET.length)];
  return out;
}

function event(random: () => number, n: number, bodyLength: number): EventJob {
  const job: EventJob = { event: 'update', streamId: `${1_700_000_000_000 + n}-${n % 3}`, body: `{"x":"${text(random, bodyLength)}"}`, receivedAt: 1_700_000_000_000 + n };
  if (n % 5 === 0) job.entity = `indicator--${text(random, 8)}`;
  return job;
}

function pack(random: () => number, n: number, size: number, bodyLength: number): PackJob {
  return { events: Array.from({ length: size }, (_, k) => ({ id: `${n + k}-0-${'f'.repeat(16)}`, ...event(random, n + k, bodyLength) })) };
}

const expected = (data: QueuedJobData) => Buffer.from(JSON.stringify(data), 'utf8');

describe('JobDataWriter', () => {
  it('writes the bytes of JSON.stringify for single events and packs, ASCII or not', () => {
    const random = createRng(16);
    const writer = new JobDataWriter();
    for (let n = 0; n < 2_000; n += 1) {
      const data = n % 2 === 0 ? event(random, n, Math.floor(random() * 300)) : pack(random, n, 1 + Math.floor(random() * 25), Math.floor(random() * 200));
      assert.deepEqual(writer.write(data), expected(data), `job ${n}`);
    }
  });

  it('keeps what it wrote intact while it writes more, past the end of a slab too', () => {
    const random = createRng(17);
    const writer = new JobDataWriter();
    const written: Array<[QueuedJobData, Buffer]> = [];
    // About 5 MiB of bounds: several slabs, and one job larger than a slab.
    for (let n = 0; n < 60; n += 1) {
      const data = n === 30 ? event(random, n, 2_000_000) : pack(random, n, 20, 2_000);
      written.push([data, writer.write(data)]);
    }
    for (const [data, bytes] of written) assert.deepEqual(bytes, expected(data));
  });

  it('writes the next commit into the memory of the previous one once told to, past a slab too small for a job', () => {
    const random = createRng(18);
    const writer = new JobDataWriter();
    const commit = (sizes: readonly number[]) => {
      writer.reuse();
      return sizes.map((size, n) => {
        const data = pack(random, n, 20, size);
        return [data, writer.write(data)] as const;
      });
    };
    const first = commit(Array.from({ length: 12 }, () => 2_000));
    const slabs = new Set(first.map(([, bytes]) => bytes.buffer));
    assert.ok(slabs.size >= 2, 'several slabs');
    // Same sizes: nothing new is allocated; a job larger than any slab gets one of its own.
    const second = commit([...Array.from({ length: 12 }, () => 2_000), 30_000]);
    for (const [data, bytes] of second) assert.deepEqual(bytes, expected(data));
    assert.ok(second.slice(0, -1).every(([, bytes]) => slabs.has(bytes.buffer)), 'the same slabs');
    assert.equal(second[0]![1].byteOffset, first[0]![1].byteOffset);
    assert.ok(!slabs.has(second.at(-1)![1].buffer));
    const third = commit([30_000, 2_000]);
    for (const [data, bytes] of third) assert.deepEqual(bytes, expected(data));
  });

  it('writes an ASCII-only pack exactly as JSON.stringify', () => {
    const data: PackJob = { events: [{ id: 'a', event: 'create', streamId: '1-0', body: '{"a":1}', receivedAt: 1 }, { id: 'b', event: 'delete', streamId: '2-0', body: '{}', receivedAt: 2 }] };
    assert.equal(new JobDataWriter().write(data).toString('utf8'), JSON.stringify(data));
  });
});
