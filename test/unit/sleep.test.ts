import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { sleep } from '../../shared/timing/sleep.js';
import { scaled, withTimeout } from '../helpers/wait.js';

/** Far longer than any test may take: a sleep of this length can only end early. */
const FOREVER_MS = 3_600_000;
/** Unref'd, so that a sleep which fails to end early fails its test rather than hold the test process for the hour. */
const FOREVER = { ref: false } as const;

/** Runs `script` (ES module source) in a child node process; the child must exit on its own. */
async function runChild(script: string): Promise<string> {
  const sleepModule = new URL('../../shared/timing/sleep.js', import.meta.url).href;
  const source = `import { sleep } from ${JSON.stringify(sleepModule)};\n${script}`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', source], { timeout: scaled(10_000) });
  return stdout;
}

describe('sleep', () => {
  it('resolves after the time given', async () => {
    await withTimeout(sleep(10), 5_000, 'a 10 ms sleep');
  });

  it('resolves early when the signal aborts', async () => {
    const stop = new AbortController();
    const sleeping = sleep(FOREVER_MS, { ...FOREVER, signal: stop.signal });
    stop.abort();
    await withTimeout(sleeping, 5_000, 'the sleep to end on abort');
  });

  it('resolves at once when the signal has already aborted', async () => {
    await withTimeout(sleep(FOREVER_MS, { ...FOREVER, signal: AbortSignal.abort() }), 5_000, 'a sleep on an aborted signal');
  });

  it('leaves no listener on the signal, however it ended', async () => {
    const stop = new AbortController();
    for (let i = 0; i < 20; i++) await sleep(1, { signal: stop.signal });
    assert.equal(getEventListeners(stop.signal, 'abort').length, 0);
    const sleeping = sleep(FOREVER_MS, { ...FOREVER, signal: stop.signal });
    assert.equal(getEventListeners(stop.signal, 'abort').length, 1);
    stop.abort();
    await withTimeout(sleeping, 5_000, 'the sleep to end on abort');
    assert.equal(getEventListeners(stop.signal, 'abort').length, 0);
  });

  it('still rejects what is not an abort', async () => {
    await assert.rejects(sleep(1, { ref: 'no' as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  it('keeps the process alive by default', async () => {
    assert.equal(await runChild(`await sleep(50); console.log('woke');`), 'woke\n');
  });

  it('does not keep the process alive with ref: false', async () => {
    assert.equal(await runChild(`void sleep(${FOREVER_MS}, { ref: false }).then(() => console.log('woke'));`), '');
  });
});
