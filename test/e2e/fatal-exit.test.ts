/**
 * A process that cannot go on crashes cleanly: one fatal JSON line naming
 * the error, exit 1, for the orchestrator to restart it (and a person to
 * read). Real faults: the stream position's key in Redis holds a string, so
 * `cursor.load()` (the first thing a leader does) gets WRONGTYPE and the
 * term's start rejects; the metrics port is taken. Doubles: stream emulator,
 * throwaway redis-server; the real processes. Oracle: their exit and output.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { cursorKey } from '../../shared/queue/contract.js';
import { runToExit, type RunResult } from '../helpers/processes.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';

/** Every line JSON, nothing on stderr, exit 1, and exactly one fatal line, returned. */
function oneFatalLine(result: RunResult): Record<string, unknown> {
  assert.deepEqual({ code: result.code, signal: result.signal }, { code: 1, signal: null }, `${result.stdout}${result.stderr}`);
  assert.equal(result.stderr, '', 'nothing on stderr');
  assert.equal(result.stdout.split('\n').filter((line) => line !== '').length, result.logs.length, `a line that is not JSON:\n${result.stdout}`);
  const fatal = result.logs.filter((line) => line.level === 60);
  assert.equal(fatal.length, 1, `exactly one fatal line:\n${result.stdout}`);
  return fatal[0]!;
}

describe('fatal exits', () => {
  let bed: TestBed;
  before(async () => {
    bed = await startTestBed();
  });
  after(() => bed?.close());

  it('a leader that cannot start its term writes one fatal line and exits 1', async () => {
    const env = bed.env();
    await bed.redis.client().set(cursorKey(env.CONNECTOR_ID!), 'not a hash');
    const result = await runToExit('ingester', env, 20_000);
    const fatal = oneFatalLine(result);
    assert.equal(fatal.msg, 'lease.term_failed');
    assert.equal(fatal.epoch, 1);
    const err = fatal.err as { message: string; stack: string };
    assert.match(err.message, /^WRONGTYPE/);
    assert.equal(typeof err.stack, 'string');
    assert.ok(result.logs.some((line) => line.msg === 'lease.acquired'), 'it led before failing');
  });

  it('a dispatcher whose metrics port is taken writes one fatal line and exits 1', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    try {
      const { port } = taken.address() as AddressInfo;
      const result = await runToExit('dispatcher', bed.env({ METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1', METRICS_PORT: String(port) }), 20_000);
      const fatal = oneFatalLine(result);
      assert.equal(fatal.msg, 'process.uncaught_exception');
      assert.equal((fatal.err as { code?: string }).code, 'EADDRINUSE');
    } finally {
      taken.close();
    }
  });
});
