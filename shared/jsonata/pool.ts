/**
 * Evaluates user-supplied JSONata expressions (destination filters and templates) with a hard
 * bound on their cost. JSONata blocks the thread it runs on and checks its own time limit only
 * between evaluation steps (a catastrophic regular expression runs for seconds past it), so
 * evaluations run in a worker thread with a memory limit, and a watchdog here terminates the
 * thread when one evaluation runs past the time limit. One failure costs one evaluation: the
 * others of its batch go to a fresh thread.
 *
 * Calls made while the thread is busy are queued and sent together as the next batch, which pays
 * the thread hop once per batch rather than once per event.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { IDLE, type BatchItem, type BatchReply, type Evaluation, type ExpressionSpec, type WorkerSetup } from './protocol.js';

export interface JsonataPoolOptions {
  /** Time limit of one evaluation. */
  timeoutMs: number;
  /** Heap limit of the evaluation thread. @defaultValue 64 */
  memoryMb?: number;
}

export interface EvaluationInput {
  /** The event, as JSON text: it is parsed in the evaluation thread. */
  json: string;
  /** JSONata variables (`$name`); sent to the thread by structured clone. */
  bindings?: Readonly<Record<string, unknown>>;
}

interface Pending extends BatchItem {
  resolve: (evaluation: Evaluation) => void;
}

interface Thread {
  worker: Worker;
  progress: Int32Array;
  /** Code of the error the thread stopped on, if it reported one. */
  errorCode: string | undefined;
}

const DEFAULT_MEMORY_MB = 64;
/** Largest batch sent at once: bounds what a timeout makes the fresh thread evaluate again. */
const MAX_BATCH = 500;

function failure(code: 'timeout' | 'error', message: string): Evaluation {
  return { ok: false, code, message };
}

export class JsonataPool {
  readonly #expressions: Readonly<Record<string, ExpressionSpec>>;
  readonly #timeoutMs: number;
  readonly #memoryMb: number;
  /** Evaluations not yet sent, in call order. */
  #queue: Pending[] = [];
  /** The batch the thread is on, if any. */
  #inFlight: Pending[] | undefined;
  #thread: Thread | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  /** The evaluation the watchdog last saw running, and when it first saw it. */
  #seen: { index: number; sinceMs: number } | undefined;
  #dispatchScheduled = false;
  #closed = false;

  constructor(expressions: Readonly<Record<string, ExpressionSpec>>, options: JsonataPoolOptions) {
    this.#expressions = expressions;
    this.#timeoutMs = options.timeoutMs;
    this.#memoryMb = options.memoryMb ?? DEFAULT_MEMORY_MB;
  }

  /** Evaluates expression `expressionId` on the event `json`. Never rejects. */
  evaluate(expressionId: string, json: string, bindings?: Readonly<Record<string, unknown>>): Promise<Evaluation> {
    if (this.#closed) return Promise.resolve(failure('error', 'the evaluation pool is closed'));
    if (!Object.hasOwn(this.#expressions, expressionId)) return Promise.resolve(failure('error', `unknown expression ${JSON.stringify(expressionId)}`));
    return new Promise((resolve) => {
      this.#queue.push({ expressionId, json, bindings, resolve });
      this.#scheduleDispatch();
    });
  }

  /** Evaluates expression `expressionId` on each input; results in the inputs' order. Never rejects. */
  evaluateMany(expressionId: string, items: readonly EvaluationInput[]): Promise<Evaluation[]> {
    return Promise.all(items.map((item) => this.evaluate(expressionId, item.json, item.bindings)));
  }

  /** Terminates the evaluation thread; evaluations not answered yet resolve as errors. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopWatchdog();
    const thread = this.#thread;
    this.#thread = undefined;
    const unanswered = [...(this.#inFlight ?? []), ...this.#queue];
    this.#inFlight = undefined;
    this.#queue = [];
    for (const pending of unanswered) pending.resolve(failure('error', 'the evaluation pool is closed'));
    await thread?.worker.terminate();
  }

  // Sending on the next microtask lets every call made in the same tick (evaluateMany, a burst
  // of evaluate) join one batch.
  #scheduleDispatch(): void {
    if (this.#dispatchScheduled) return;
    this.#dispatchScheduled = true;
    queueMicrotask(() => {
      this.#dispatchScheduled = false;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    if (this.#closed || this.#inFlight !== undefined || this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, MAX_BATCH);
    const thread = this.#thread ?? this.#start();
    const sendable = this.#post(thread, batch);
    if (sendable.length === 0) {
      this.#dispatch();
      return;
    }
    this.#inFlight = sendable;
    // A busy thread keeps the process alive (its answers are awaited); an idle one does not.
    thread.worker.ref();
    this.#startWatchdog();
  }

  /** Posts `batch` to the thread; returns the evaluations sent (bindings that cannot be cloned fail theirs). */
  #post(thread: Thread, batch: Pending[]): Pending[] {
    Atomics.store(thread.progress, 0, IDLE);
    try {
      thread.worker.postMessage(batch.map(toItem));
      return batch;
    } catch {
      const sendable = batch.filter((pending) => {
        try {
          structuredClone(pending.bindings);
          return true;
        } catch {
          pending.resolve(failure('error', 'the bindings cannot be passed to the evaluation thread (not cloneable)'));
          return false;
        }
      });
      if (sendable.length > 0) thread.worker.postMessage(sendable.map(toItem));
      return sendable;
    }
  }

  #start(): Thread {
    const setup: WorkerSetup = { expressions: this.#expressions, timeoutMs: this.#timeoutMs, progress: new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT) };
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: setup,
      // The process's own flags are not the thread's business (an --input-type or a heap size
      // flag would stop it from starting or override its memory limit).
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: this.#memoryMb },
    });
    const thread: Thread = { worker, progress: new Int32Array(setup.progress), errorCode: undefined };
    Atomics.store(thread.progress, 0, IDLE);
    worker.on('message', (results: BatchReply) => {
      if (this.#thread === thread) this.#answer(results);
    });
    worker.on('error', (error: NodeJS.ErrnoException) => {
      thread.errorCode = error.code ?? error.name;
    });
    worker.on('exit', () => {
      if (this.#thread === thread) this.#died(thread);
    });
    worker.unref();
    this.#thread = thread;
    return thread;
  }

  #answer(results: BatchReply): void {
    const batch = this.#inFlight ?? [];
    this.#inFlight = undefined;
    this.#stopWatchdog();
    this.#thread?.worker.unref();
    for (const [index, pending] of batch.entries()) {
      pending.resolve(results[index] ?? failure('error', 'the evaluation thread gave no answer'));
    }
    this.#dispatch();
  }

  #died(thread: Thread): void {
    this.#thread = undefined;
    // The code only: the error's message could quote the data being evaluated.
    const reason =
      thread.errorCode === 'ERR_WORKER_OUT_OF_MEMORY'
        ? `ran out of memory (limit ${this.#memoryMb} MB)`
        : `the evaluation thread stopped (${thread.errorCode ?? 'no error reported'})`;
    this.#abandon(Atomics.load(thread.progress, 0), failure('error', reason));
  }

  #startWatchdog(): void {
    this.#seen = undefined;
    // Checking four times per time limit stops a stuck evaluation between 1 and 1.5 limits in.
    this.#watchdog = setInterval(() => this.#watch(), Math.max(5, Math.ceil(this.#timeoutMs / 4)));
    this.#watchdog.unref();
  }

  #stopWatchdog(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    this.#seen = undefined;
  }

  #watch(): void {
    const thread = this.#thread;
    if (thread === undefined) return;
    const index = Atomics.load(thread.progress, 0);
    const nowMs = performance.now();
    if (index === IDLE || this.#seen?.index !== index) {
      this.#seen = index === IDLE ? undefined : { index, sinceMs: nowMs };
      return;
    }
    if (nowMs - this.#seen.sinceMs < this.#timeoutMs) return;
    this.#thread = undefined;
    void thread.worker.terminate();
    this.#abandon(index, failure('timeout', `stopped after the time limit of ${this.#timeoutMs} ms`));
  }

  /**
   * The thread is gone while on evaluation `index` of the batch: that evaluation gets `outcome`,
   * the rest of the batch goes first to the next thread. Gone while on none (starting up or
   * replying), nothing in the batch is to blame alone, so all of it gets `outcome` — which also
   * keeps a thread that cannot start from being restarted for ever.
   */
  #abandon(index: number, outcome: Evaluation): void {
    this.#stopWatchdog();
    const batch = this.#inFlight ?? [];
    this.#inFlight = undefined;
    const culprit = batch[index];
    if (culprit === undefined) {
      for (const pending of batch) pending.resolve(outcome);
    } else {
      culprit.resolve(outcome);
      this.#queue.unshift(...batch.slice(0, index), ...batch.slice(index + 1));
    }
    this.#dispatch();
  }
}

function toItem({ expressionId, json, bindings }: Pending): BatchItem {
  return { expressionId, json, bindings };
}
