/**
 * Handle on the lean counting receiver (receiver-worker.ts), which runs in a worker thread of the
 * bench process: HTTP/1.1 keep-alive on 127.0.0.1, answers 200 `{"ok":true}` to every POST
 * (optionally after a fixed delay) and records, per answered request, the `x-opencti-event-id`
 * header, the answer time ({@link nowMs} clock), the body length and the URL path (one per
 * destination). Nothing else is kept. A path can be made to answer 503 for a while.
 */
import { Worker } from 'node:worker_threads';

/** waitForUnique ran out of time; the message says how far the receiver got. */
export class ReceiverTimeoutError extends Error {
  override readonly name = 'ReceiverTimeoutError';
}

export type ReceiverCommand =
  | { type: 'reset'; seq: number; delayMs: number }
  | { type: 'await'; seq: number; n: number; path?: string | undefined }
  | { type: 'progress'; seq: number; path?: string | undefined }
  | { type: 'outage'; seq: number; path: string; untilMs: number }
  | { type: 'collect'; seq: number }
  | { type: 'close'; seq: number };

export type ReceiverReply =
  | { type: 'listening'; port: number }
  | { type: 'done'; seq: number }
  | { type: 'reached'; seq: number; at: number; unique: number }
  | { type: 'progress'; seq: number; requests: number; unique: number; errors: number; rejected: Record<string, number> }
  | {
      type: 'records';
      seq: number;
      ids: string[];
      at: Float64Array;
      lengths: Uint32Array;
      pathIndexes: Uint8Array;
      paths: string[];
      uniqueByPath: Record<string, number>;
      rejectedByPath: Record<string, number>;
      unique: number;
      errors: number;
      elu: number;
    };

export interface ReceiverRecords {
  /** `x-opencti-event-id` of every answered request, in answer order (duplicates included). */
  ids: string[];
  /** Answer time of each. */
  at: Float64Array;
  /** Body length of each, in bytes. */
  lengths: Uint32Array;
  /** URL path of each, as an index into {@link paths}. */
  pathIndexes: Uint8Array;
  /** Every path that got a request since the last reset (answered or not). */
  paths: string[];
  /** Distinct ids answered 2xx, per path. */
  uniqueByPath: Record<string, number>;
  /** Requests answered 503 by an outage, per path. */
  rejectedByPath: Record<string, number>;
  /** Distinct ids answered 2xx on any path. */
  unique: number;
  errors: number;
  /** Event-loop utilisation of the receiver thread since the last reset (1 = saturated). */
  elu: number;
}

export interface ReceiverProgress {
  requests: number;
  unique: number;
  errors: number;
  rejected: Record<string, number>;
}

/** A command without its sequence number (distributed over the union). */
type Command = ReceiverCommand extends infer C ? (C extends { seq: number } ? Omit<C, 'seq'> : never) : never;
type Reply<T extends ReceiverReply['type']> = Extract<ReceiverReply, { type: T }>;
type Pending = { resolve: (reply: ReceiverReply) => void; reject: (error: Error) => void };

export class LeanReceiver {
  readonly url: string;
  readonly #base: string;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;

  private constructor(worker: Worker, port: number) {
    this.#worker = worker;
    this.url = `http://127.0.0.1:${port}/webhook`;
    this.#base = `http://127.0.0.1:${port}`;
    worker.on('message', (reply: ReceiverReply) => {
      if (reply.type === 'listening') return;
      const pending = this.#pending.get(reply.seq);
      this.#pending.delete(reply.seq);
      pending?.resolve(reply);
    });
    const fail = (error: Error): void => {
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`bench receiver thread exited (code ${code})`)));
  }

  static async start(): Promise<LeanReceiver> {
    const worker = new Worker(new URL('./receiver-worker.js', import.meta.url));
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (reply: ReceiverReply) => {
        worker.off('error', reject);
        if (reply.type === 'listening') resolve(reply.port);
        else reject(new Error(`bench receiver: unexpected first message ${reply.type}`));
      });
    });
    return new LeanReceiver(worker, port);
  }

  #call<T extends ReceiverReply['type']>(command: Command): Promise<Reply<T>> {
    const seq = (this.#seq += 1);
    return new Promise<Reply<T>>((resolve, reject) => {
      this.#pending.set(seq, { resolve: (reply) => resolve(reply as Reply<T>), reject });
      this.#worker.postMessage({ ...command, seq });
    });
  }

  /** The receiver's URL for `path` (e.g. `/d2`): one per destination. */
  urlFor(path: string): string {
    return `${this.#base}${path}`;
  }

  /** Requests to `path` are answered 503 until `untilMs` ({@link nowMs} clock; 0 ends it now). */
  async outage(path: string, untilMs: number): Promise<void> {
    await this.#call<'done'>({ type: 'outage', path, untilMs });
  }

  /** Forgets every record and outage; later requests are answered after `delayMs`. */
  async reset(delayMs = 0): Promise<void> {
    await this.#call<'done'>({ type: 'reset', delayMs });
  }

  /**
   * Resolves with the answer time of the request that made `n` distinct event ids answered (on
   * `path` only, when given); rejects after `timeoutMs` with the progress so far.
   */
  async waitForUnique(n: number, timeoutMs: number, what: string, path?: string): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void this.progress(path).then(
          (p) => reject(new ReceiverTimeoutError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}: the receiver answered ${p.unique} of ${n} distinct events (${p.requests} requests)`)),
          reject,
        );
      }, timeoutMs);
    });
    try {
      const reached = await Promise.race([this.#call<'reached'>({ type: 'await', n, path }), timeout]);
      return reached.at;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Requests so far; `unique` counts the distinct ids answered on `path` when given, else on any path. */
  async progress(path?: string): Promise<ReceiverProgress> {
    const { requests, unique, errors, rejected } = await this.#call<'progress'>({ type: 'progress', path });
    return { requests, unique, errors, rejected };
  }

  async collect(): Promise<ReceiverRecords> {
    const { type: _type, seq: _seq, ...records } = await this.#call<'records'>({ type: 'collect' });
    return records;
  }

  async close(): Promise<void> {
    await this.#call<'done'>({ type: 'close' }).catch(() => undefined);
    await this.#worker.terminate();
  }
}
