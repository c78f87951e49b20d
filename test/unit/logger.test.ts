import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { MAX_CAUSE_DEPTH } from '../../shared/errors/causes.js';
import { createLogger } from '../../shared/observability/logger.js';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('logger', () => {
  it('writes an error as type, code, message, stack and cause, never the command ioredis attaches with its arguments', () => {
    const { stream, lines } = capture();
    const logger = createLogger('test', 'info', stream);
    const body = 'x'.repeat(100_000);
    const error = Object.assign(new Error('NOSCRIPT No matching script.', { cause: new Error('socket closed') }), {
      code: 'NOSCRIPT',
      command: { name: 'evalsha', args: ['sha', '8', body] },
    });
    logger.warn({ err: error }, 'enqueue.failed');
    const [line] = lines();
    const err = line!.err as Record<string, unknown>;
    assert.equal(err.type, 'Error');
    assert.equal(err.code, 'NOSCRIPT');
    assert.equal(err.message, 'NOSCRIPT No matching script.');
    assert.match(String(err.stack), /NOSCRIPT/);
    assert.deepEqual((err.cause as Record<string, unknown>).message, 'socket closed');
    assert.equal(err.command, undefined);
    assert.ok(JSON.stringify(line).length < 5_000, 'the line stays small');
  });

  it('nests causes as far as the cause chain goes, so a cyclic one still logs', () => {
    const { stream, lines } = capture();
    const first = new Error('first');
    first.cause = new Error('second', { cause: first });
    createLogger('test', 'info', stream).error({ err: first }, 'x.failed');
    let depth = 0;
    for (let err = lines()[0]!.err as Record<string, unknown> | undefined; err !== undefined; err = err.cause as Record<string, unknown> | undefined) depth += 1;
    assert.equal(depth, MAX_CAUSE_DEPTH + 1);
  });

  it("logs an AggregateError's first member as its cause (one failed connection per address)", () => {
    const { stream, lines } = capture();
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    createLogger('test', 'info', stream).error({ err: new AggregateError([refused]) }, 'x.failed');
    assert.equal(((lines()[0]!.err as Record<string, unknown>).cause as Record<string, unknown>).code, 'ECONNREFUSED');
  });

  it('keeps at most 1,000 characters of an error message', () => {
    const { stream, lines } = capture();
    createLogger('test', 'info', stream).error({ err: new Error('e'.repeat(5_000)) }, 'x.failed');
    assert.equal(((lines()[0]!.err as Record<string, unknown>).message as string).length, 1_000);
  });
});
