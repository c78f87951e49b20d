/**
 * The evaluation thread of the JSONata pool (pool.ts). It compiles every expression once, then
 * evaluates batches: parse the event's JSON text, evaluate, cast. Before each evaluation it
 * stores the evaluation's index in the shared progress counter, so the pool can see one that
 * runs past the time limit (JSONata's own limit is only checked between evaluation steps, never
 * inside a regular expression) and terminate the thread.
 */
import jsonata from 'jsonata';
import { parentPort, workerData } from 'node:worker_threads';
import { cast } from './cast.js';
import { asJsonataFailure, describeFailure } from './failure.js';
import { IDLE, type BatchItem, type BatchReply, type Evaluation, type Output, type WorkerSetup } from './protocol.js';

/** JSONata evaluation depth (nested steps, non-tail calls): far above what a template needs. */
const STACK_LIMIT = 500;
/** Items in one JSONata sequence: bounds `[1..10000000]` and friends before they fill the heap. */
const SEQUENCE_LIMIT = 100_000;

type Compiled = { expression: jsonata.Expression; output: Output } | { problem: string };

const port = parentPort;
if (port === null) throw new Error('the JSONata worker must run as a worker thread');
const setup = workerData as WorkerSetup;
const progress = new Int32Array(setup.progress);
const options = { timeout: setup.timeoutMs, stack: STACK_LIMIT, sequence: SEQUENCE_LIMIT };

const compiled = new Map<string, Compiled>();
for (const [id, spec] of Object.entries(setup.expressions)) {
  try {
    compiled.set(id, { expression: jsonata(spec.source, options), output: spec.output });
  } catch (thrown) {
    // Configuration checks compile every expression at startup (check.ts); this is a safety net.
    compiled.set(id, { problem: `the expression does not compile: ${describeFailure(thrown)}` });
  }
}

port.on('message', (items: BatchItem[]) => {
  void run(items).then((results) => port.postMessage(results));
});

async function run(items: readonly BatchItem[]): Promise<BatchReply> {
  const results: Evaluation[] = [];
  for (const [index, item] of items.entries()) {
    Atomics.store(progress, 0, index);
    results.push(await evaluate(item));
  }
  Atomics.store(progress, 0, IDLE);
  return results;
}

async function evaluate(item: BatchItem): Promise<Evaluation> {
  const entry = compiled.get(item.expressionId);
  if (entry === undefined) return { ok: false, code: 'error', message: 'unknown expression' };
  if ('problem' in entry) return { ok: false, code: 'error', message: entry.problem };
  let input: unknown;
  try {
    input = JSON.parse(item.json);
  } catch {
    // JSON.parse's message quotes the input: say no more than this.
    return { ok: false, code: 'error', message: 'the input is not valid JSON' };
  }
  try {
    return cast(await entry.expression.evaluate(input, item.bindings), entry.output);
  } catch (thrown) {
    const timedOut = asJsonataFailure(thrown)?.code === 'D1012';
    return { ok: false, code: timedOut ? 'timeout' : 'error', message: describeFailure(thrown) };
  }
}
