/**
 * The JSONata pool evaluates user expressions in a worker thread under a hard time and memory
 * limit: a runaway expression costs its own evaluation, never another one, and never the process.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, describe, it, mock } from 'node:test';
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { JsonataPool } from '../../shared/jsonata/pool.js';
import type { Evaluation } from '../../shared/jsonata/protocol.js';
import { EventFactory, type EntityKind } from '../helpers/stix-fixtures.js';
import { withTimeout } from '../helpers/wait.js';

const factory = new EventFactory('jsonata-pool');
let eventIndex = 0;

/** A real create envelope (JSON text, ~2.5 KB) for a `kind` object. */
function event(kind: EntityKind): string {
  eventIndex += 1;
  return factory.build(eventIndex, Date.parse('2024-05-01T00:00:00Z'), {
    envelopeType: 'create',
    freshDependencies: 2,
    sharedDependencyKeys: [],
    size: 2500,
    explicitSize: true,
    inferred: false,
    entityType: kind,
  }).envelope;
}

/** An envelope whose data.name is `name` (for expressions that look at the name). */
function named(name: string): string {
  const envelope = JSON.parse(event('indicator')) as { data: { name: string } };
  envelope.data.name = name;
  return JSON.stringify(envelope);
}

/** Backtracks for seconds: (a+)+ against a run of a's that ends in a mismatch. */
const CATASTROPHIC = `${'a'.repeat(28)}!`;
const TIMEOUT_MS = 100;

const pool = new JsonataPool(
  {
    indicators: { source: 'type = "create" and data.type = "indicator"', output: 'boolean' },
    allowed: { source: 'data.type in $allowed', output: 'boolean' },
    card: { source: '{"text": message, "id": data.id, "destination": $destination, "markings": data.object_marking_refs[]}', output: 'json' },
    noBody: { source: 'data.nothing', output: 'json' },
    scalar: { source: 'data.name', output: 'json' },
    runtimeError: { source: '$number("x")', output: 'boolean' },
    regex: { source: '$exists($match(data.name, /^(a+)+$/))', output: 'boolean' },
    loop: { source: '( $f := function($x){ $f($x) }; $f(1) )', output: 'boolean' },
    deepRecursion: { source: '( $f := function($x){ 1 + $f($x) }; $f(1) )', output: 'boolean' },
    hugeRange: { source: '$string([1..10000000])', output: 'json' },
    echo: { source: '{"n": $n}', output: 'json' },
    broken: { source: 'a.b = ]', output: 'boolean' },
  },
  { timeoutMs: TIMEOUT_MS },
);
after(() => pool.close());

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `script` (ES module source) in a child node process and collects how it ended. */
function runChild(script: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function assertFailure(evaluation: Evaluation, code: 'timeout' | 'error'): string {
  assert.ok(!evaluation.ok, `expected a failure, got ${JSON.stringify(evaluation)}`);
  assert.equal(evaluation.code, code, evaluation.message);
  return evaluation.message;
}

describe('JsonataPool', () => {
  it('evaluates a boolean filter on real event JSON', async () => {
    const results = await withTimeout(
      pool.evaluateMany('indicators', [{ json: event('indicator') }, { json: event('malware') }, { json: event('report') }]),
      10_000,
      'three filter evaluations',
    );
    assert.deepEqual(results, [
      { ok: true, value: true },
      { ok: true, value: false },
      { ok: true, value: false },
    ]);
  });

  it('makes bindings visible as $variables', async () => {
    const allowed = { allowed: ['malware', 'report'] };
    const results = await withTimeout(
      pool.evaluateMany('allowed', [{ json: event('indicator'), bindings: allowed }, { json: event('malware'), bindings: allowed }]),
      10_000,
      'two filter evaluations with bindings',
    );
    assert.deepEqual(results, [
      { ok: true, value: false },
      { ok: true, value: true },
    ]);
  });

  it('produces a JSON body from a template', async () => {
    const json = event('malware');
    const envelope = JSON.parse(json) as { message: string; data: { id: string; object_marking_refs: string[] } };
    const result = await withTimeout(pool.evaluate('card', json, { destination: 'soc' }), 10_000, 'a template evaluation');
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(typeof result.value, 'string');
    assert.deepEqual(JSON.parse(result.value as string), {
      text: envelope.message,
      id: envelope.data.id,
      destination: 'soc',
      markings: envelope.data.object_marking_refs,
    });
  });

  it('fails a template that produces no body, or a scalar', async () => {
    const [none, scalar] = await withTimeout(pool.evaluateMany('noBody', [{ json: event('malware') }]).then(async (a) => [...a, await pool.evaluate('scalar', event('malware'))]), 10_000, 'two templates');
    assertFailure(none, 'error');
    assertFailure(scalar!, 'error');
  });

  it('reports a runtime error with its JSONata code and no stack', async () => {
    const message = assertFailure(await withTimeout(pool.evaluate('runtimeError', event('malware')), 10_000, 'a failing evaluation'), 'error');
    assert.match(message, /^D3030: /);
    assert.ok(!message.includes('jsonata.js') && !message.includes('\n'), message);
  });

  it('fails input that is not JSON without quoting it', async () => {
    const message = assertFailure(await withTimeout(pool.evaluate('indicators', '{"type": secret-value'), 10_000, 'a bad input'), 'error');
    assert.ok(!message.includes('secret-value'), message);
  });

  it('fails an expression that does not compile, or an unknown one, without crashing', async () => {
    assertFailure(await withTimeout(pool.evaluate('broken', event('malware')), 10_000, 'a broken expression'), 'error');
    assertFailure(await withTimeout(pool.evaluate('nonexistent', event('malware')), 10_000, 'an unknown expression'), 'error');
  });

  it('stops a catastrophic regular expression and goes on with the rest of the batch', async () => {
    const inputs = [named('aaaa'), named(CATASTROPHIC), named('b')];
    const startedMs = performance.now();
    let timedOutAfterMs = 0;
    const before = pool.evaluate('regex', inputs[0]!);
    const stuck = pool.evaluate('regex', inputs[1]!).then((result) => {
      timedOutAfterMs = performance.now() - startedMs;
      return result;
    });
    const after = pool.evaluate('regex', inputs[2]!);
    const results = await withTimeout(Promise.all([before, stuck, after]), 20_000, 'a batch with a catastrophic regex');
    console.log(`catastrophic regex stopped after ${Math.round(timedOutAfterMs)} ms (time limit ${TIMEOUT_MS} ms)`);
    assert.deepEqual(results[0], { ok: true, value: true });
    assertFailure(results[1], 'timeout');
    assert.deepEqual(results[2], { ok: true, value: false });
    assert.ok(timedOutAfterMs < 20 * TIMEOUT_MS, `stopped only after ${Math.round(timedOutAfterMs)} ms`);
    // A fresh thread took over.
    assert.deepEqual(await withTimeout(pool.evaluate('indicators', event('indicator')), 10_000, 'an evaluation after the timeout'), { ok: true, value: true });
  });

  it('ends runaway recursion with a timeout or an error, not a crash', async () => {
    const [loop, deep, next] = await withTimeout(
      Promise.all([pool.evaluate('loop', event('malware')), pool.evaluate('deepRecursion', event('malware')), pool.evaluate('indicators', event('indicator'))]),
      20_000,
      'two runaway recursions',
    );
    assert.ok(!loop.ok && !deep.ok, JSON.stringify([loop, deep]));
    assert.deepEqual(next, { ok: true, value: true });
  });

  it('bounds a sequence that would fill the memory', async () => {
    assert.match(assertFailure(await withTimeout(pool.evaluate('hugeRange', event('malware')), 20_000, 'a huge range'), 'error'), /^D20\d\d: /);
  });

  it('fails an evaluation whose bindings cannot be sent, and only that one', async () => {
    const [bad, good] = await withTimeout(
      Promise.all([pool.evaluate('echo', event('malware'), { n: () => 1 }), pool.evaluate('echo', event('malware'), { n: 2 })]),
      10_000,
      'two evaluations',
    );
    assertFailure(bad, 'error');
    assert.deepEqual(good, { ok: true, value: '{"n":2}' });
  });

  it('batches the calls made while the thread is busy and answers them in order', async () => {
    const spy = mock.method(Worker.prototype, 'postMessage');
    try {
      const calls = Array.from({ length: 300 }, (_, n) => pool.evaluate('echo', event('malware'), { n }));
      const results = await withTimeout(Promise.all(calls), 20_000, '300 evaluations');
      assert.deepEqual(
        results,
        Array.from({ length: 300 }, (_, n) => ({ ok: true, value: `{"n":${n}}` })),
      );
    } finally {
      spy.mock.restore();
    }
    const posted = spy.mock.calls.map((call) => (call.arguments[0] as unknown[]).length);
    assert.equal(posted.reduce((a, b) => a + b, 0), 300);
    assert.ok(posted.length <= 2, `300 evaluations took ${posted.length} messages: ${posted.join(', ')}`);
  });
});

describe('JsonataPool memory limit', () => {
  // In a child process: the worker's memory limit is best-effort in Node (some allocation shapes
  // abort the whole process, nodejs/node#47224), and such an abort must fail this test only.
  it('fails an evaluation that runs the thread out of memory, and the next one succeeds', async () => {
    const poolModule = new URL('../../shared/jsonata/pool.js', import.meta.url).href;
    const script = `
      import { JsonataPool } from ${JSON.stringify(poolModule)};
      // A generous time limit, so that it is the memory limit (the default, 64 MB) that stops it.
      const pool = new JsonataPool({
        fill: { source: '$length($pad("", 50000000, "x"))', output: 'boolean' },
        indicators: { source: 'data.type = "indicator"', output: 'boolean' },
      }, { timeoutMs: 60000 });
      const results = await Promise.all([
        pool.evaluate('fill', '{}'),
        pool.evaluate('indicators', '{"data": {"type": "indicator"}}'),
      ]);
      await pool.close();
      process.stdout.write(JSON.stringify(results));
    `;
    const child = await withTimeout(runChild(script), 60_000, 'the child process');
    assert.equal(child.code, 0, `the child process ended with ${child.code ?? 'no code'} (${child.signal ?? 'no signal'}): ${child.stderr.slice(0, 300)}`);
    const [filled, next] = JSON.parse(child.stdout) as Evaluation[];
    console.log(`memory blow-up: ${JSON.stringify(filled)}`);
    assertFailure(filled!, 'error');
    assert.deepEqual(next, { ok: true, value: true });
  });
});

describe('JsonataPool.close', () => {
  it('resolves pending evaluations as errors and refuses new ones', async () => {
    const closing = new JsonataPool(
      {
        regex: { source: '$exists($match(data.name, /^(a+)+$/))', output: 'boolean' },
        indicators: { source: 'data.type = "indicator"', output: 'boolean' },
      },
      { timeoutMs: 60_000 },
    );
    const stuck = closing.evaluate('regex', named(`a${CATASTROPHIC}`));
    // Once the first call is sent to the thread, the next one waits in the queue: close must end both.
    await new Promise(setImmediate);
    const queued = closing.evaluate('indicators', event('indicator'));
    await withTimeout(closing.close(), 10_000, 'close()');
    const results = await withTimeout(Promise.all([stuck, queued, closing.evaluate('indicators', event('indicator'))]), 10_000, 'the pending evaluations');
    for (const result of results) assertFailure(result, 'error');
  });
});
