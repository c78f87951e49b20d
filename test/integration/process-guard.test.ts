/**
 * The process guard every entry point installs first: a crash is one fatal
 * JSON line and exit 1, and what libraries print (console, Node warnings)
 * comes out as JSON lines too. Real child processes running a small script
 * that installs the built guard. Oracle: their exit status and raw output.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runToExit, stopAll } from '../helpers/processes.js';

const GUARD = fileURLToPath(new URL('../../shared/process/guard.js', import.meta.url));

/** What the child does once the guard is installed, by GUARD_CASE. */
const SCRIPT = `
import { EventEmitter } from 'node:events';
import { installProcessGuard } from ${JSON.stringify(GUARD)};
installProcessGuard('guarded');
const cases = {
  rejection: () => Promise.reject(Object.assign(new Error('cursor unreadable'), { code: 'OWH_TEST' })),
  'rejection-not-error': () => Promise.reject('a bare string'),
  exception: () => setTimeout(() => { throw new TypeError('x is not a function'); }, 0),
  'error-event': () => setTimeout(() => new EventEmitter().emit('error', new Error('nobody listens')), 0),
  libraries: () => {
    for (let i = 0; i < 5; i++) console.error(new Error('connect ECONNREFUSED 127.0.0.1:1'));
    console.warn('IMPORTANT! Eviction policy is allkeys-lru. It should be "noeviction"');
    process.emitWarning('something old', 'DeprecationWarning');
    setTimeout(() => process.exit(0), 50);
  },
};
cases[process.env.GUARD_CASE]();
setInterval(() => undefined, 1_000);
`;

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

describe('process guard', () => {
  let dir: string;
  let script: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'process-guard-test-'));
    script = join(dir, 'guarded.mjs');
    await writeFile(script, SCRIPT);
  });
  after(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  const crashes = [
    { name: 'an unhandled rejection', guardCase: 'rejection', msg: 'process.unhandled_rejection', err: { type: 'Error', message: 'cursor unreadable', code: 'OWH_TEST' } },
    { name: 'a rejection with a value that is not an Error', guardCase: 'rejection-not-error', msg: 'process.unhandled_rejection', thrown: { type: 'string', value: "'a bare string'" } },
    { name: 'an uncaught exception', guardCase: 'exception', msg: 'process.uncaught_exception', err: { type: 'TypeError', message: 'x is not a function' } },
    { name: "an 'error' event nobody listens to", guardCase: 'error-event', msg: 'process.uncaught_exception', err: { type: 'Error', message: 'nobody listens' } },
  ];
  for (const { name, guardCase, msg, err, thrown } of crashes) {
    it(`turns ${name} into one fatal JSON line and exit 1`, async () => {
      const result = await runToExit('ingester', { GUARD_CASE: guardCase }, 10_000, { script });
      assert.deepEqual({ code: result.code, signal: result.signal }, { code: 1, signal: null });
      assert.equal(result.stderr, '', 'nothing on stderr');
      assert.deepEqual(lines(result.stdout).length, result.logs.length, `a line that is not JSON:\n${result.stdout}`);
      assert.equal(result.logs.length, 1, result.stdout);
      const [fatal] = result.logs;
      assert.equal(fatal!.level, 60);
      assert.equal(fatal!.msg, msg);
      assert.equal(fatal!.service, 'guarded');
      assert.equal(typeof fatal!.pid, 'number');
      if (thrown) {
        assert.deepEqual(fatal!.thrown, thrown);
        return;
      }
      const logged = fatal!.err as Record<string, unknown>;
      assert.deepEqual({ type: logged.type, message: logged.message, ...(logged.code ? { code: logged.code } : {}) }, err);
      assert.match(String(logged.stack), /\n\s+at /, 'the stack is kept, in one field');
    });
  }

  it('writes what libraries print as JSON lines, identical ones once', async () => {
    const result = await runToExit('ingester', { GUARD_CASE: 'libraries' }, 10_000, { script });
    assert.equal(result.code, 0);
    assert.equal(result.stderr, '', 'nothing on stderr');
    assert.equal(lines(result.stdout).length, result.logs.length, `a line that is not JSON:\n${result.stdout}`);
    assert.deepEqual(
      result.logs.map((line) => [line.msg, line.method ?? (line.warning as { name: string }).name]),
      [
        ['library.output', 'console.error'],
        ['library.output', 'console.warn'],
        ['process.warning', 'DeprecationWarning'],
      ],
    );
    assert.match(String(result.logs[0]!.text), /^Error: connect ECONNREFUSED 127\.0\.0\.1:1\n\s+at /);
  });
});
