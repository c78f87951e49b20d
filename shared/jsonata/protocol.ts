/** What the evaluation pool (pool.ts) and its worker thread (worker.ts) pass to each other. */

/** What an expression's result is turned into: a JSONata `$boolean()` cast, or a JSON request body. */
export type Output = 'boolean' | 'json';

export interface ExpressionSpec {
  source: string;
  output: Output;
}

/**
 * The outcome of one evaluation: data, never thrown. `value` is a boolean for `output: 'boolean'`
 * and JSON text (an object or array) for `output: 'json'`. `timeout`: the evaluation ran out of
 * time; `error`: anything else (a JSONata error, a template without a body, the thread's memory
 * limit), with a message fit for a log line.
 */
export type Evaluation =
  | { ok: true; value: boolean | string }
  | { ok: false; code: 'timeout' | 'error'; message: string };

export interface WorkerSetup {
  expressions: Readonly<Record<string, ExpressionSpec>>;
  timeoutMs: number;
  /**
   * One Int32: the index, in the current batch, of the evaluation the worker is on, or
   * {@link IDLE}. Shared memory, because the worker cannot answer a message while it is stuck.
   */
  progress: SharedArrayBuffer;
}

/** Progress value while the worker evaluates nothing (starting up, between batches, replying). */
export const IDLE = -1;

export interface BatchItem {
  expressionId: string;
  json: string;
  bindings: Readonly<Record<string, unknown>> | undefined;
}

/** One result per item, in the items' order. */
export type BatchReply = Evaluation[];
