/**
 * An ingester whose term cannot start for a reason no retry cures crashes
 * cleanly: one fatal JSON line naming the error, exit 1, for the
 * orchestrator to restart it (and a person to read). The fault is real: the
 * stream position's key in Redis holds a string, so `cursor.load()` (the
 * first thing a leader does) gets WRONGTYPE. Doubles: stream emulator,
 * throwaway redis-server; the real ingester. Oracle: its exit and output.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cursorKey } from '../../shared/queue.js';
import { runToExit } from '../helpers/processes.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';

describe('a leader that cannot start its term', () => {
  let bed: TestBed;
  before(async () => {
    bed = await startTestBed();
  });
  after(() => bed?.close());

  it('writes one fatal line and exits 1', async () => {
    const env = bed.env();
    await bed.redis.client().set(cursorKey(env.CONNECTOR_ID!), 'not a hash');
    const result = await runToExit('ingester', env, 20_000);
    assert.deepEqual({ code: result.code, signal: result.signal }, { code: 1, signal: null }, `${result.stdout}${result.stderr}`);
    assert.equal(result.stderr, '', 'nothing on stderr');
    assert.equal(result.stdout.split('\n').filter((line) => line !== '').length, result.logs.length, `a line that is not JSON:\n${result.stdout}`);
    const fatal = result.logs.filter((line) => line.level === 60);
    assert.equal(fatal.length, 1, `exactly one fatal line:\n${result.stdout}`);
    assert.equal(fatal[0]!.msg, 'lease.term_failed');
    assert.equal(fatal[0]!.epoch, 1);
    const err = fatal[0]!.err as { message: string; stack: string };
    assert.match(err.message, /^WRONGTYPE/);
    assert.equal(typeof err.stack, 'string');
    assert.ok(result.logs.some((line) => line.msg === 'lease.acquired'), 'it led before failing');
  });
});
