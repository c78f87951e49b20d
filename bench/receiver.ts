/**
 * Handle on the lean counting receiver (receiver-worker.ts), which runs in a worker thread of the
 * bench process: HTTP/1.1 keep-alive on 127.0.0.1, answers 200 `{"ok":true}` to every POST
 * (optionally after a fixed delay) and records, per answered request, the `x-opencti-event-id`
 * header, the answer time ({@link nowMs} clock) and the body length. Nothing else is kept.
 */
import { Worker } from 'node:worker_threads';

/** waitForUnique ran out of time; the message says how far the receiver got. */
export class ReceiverTimeoutError extends Error {
  override readonly name = 'ReceiverTimeoutError';
}

export type ReceiverCommand =
  | { type: 'reset'; seq: number; delayMs: number }
  | { type: 'await'; seq: number; n: number }
  | { type: 'progress'; seq: number }
  | { type: 'collect'; seq: number }
  | { type: 'close'; seq: number };

export type ReceiverReply =
  | { type: 'listening'; port: number }
  | { type: 'done'; seq: number }
  | { type: 'reached'; seq: number; at: number; unique: number }
  | { type: 'progress'; seq: number; requests: number; unique: number; errors: number }
  | { type: 'records'; seq: number; ids: string[]; at: Float64Array; lengths: Uint32Array; unique: number; errors: number; elu: number };

export interface ReceiverRecords {
  /** `x-opencti-event-id` of every answered request, in answer order (duplicates included). */
  ids: string[];
  /** Answer time of each. */
  at: Float64Array;
  /** Body length of each, in bytes. */
  lengths: Uint32Array;
  unique: number;
  errors: number;
  /** Event-loop utilisation of the receiver thread since the last reset (1 = saturated). */
  elu: number;
}

export interface ReceiverProgress {
  requests: number;
  unique: number;
  errors: number;
}

/** A command without its sequence number (distributed over the union). */
type Command = ReceiverCommand extends infer C ? (C extends { seq: number } ? Omit<C, 'seq'> : never) : never;
type Reply<T extends ReceiverReply['type']> = Extract<ReceiverReply, { type: T }>;
type Pending = { resolve: (reply: ReceiverReply) => void; reject: (error: Error) => void };

export class LeanReceiver {
  readonly url: string;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;

  private constructor(worker: Worker, port: number) {
    this.#worker = worker;
    this.url = `http://127.0.0.1:${port}/webhook`;
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

  /** Forgets every record; later requests are answered after `delayMs`. */
  async reset(delayMs = 0): Promise<void> {
    await this.#call<'done'>({ type: 'reset', delayMs });
  }

  /**
   * Resolves with the answer time of the request that made `n` distinct event ids answered;
   * rejects after `timeoutMs` with the progress so far.
   */
  async waitForUnique(n: number, timeoutMs: number, what: string): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void this.progress().then(
          (p) => reject(new ReceiverTimeoutError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}: the receiver answered ${p.unique} of ${n} distinct events (${p.requests} requests)`)),
          reject,
        );
      }, timeoutMs);
    });
    try {
      const reached = await Promise.race([this.#call<'reached'>({ type: 'await', n }), timeout]);
      return reached.at;
    } finally {
      clearTimeout(timer);
    }
  }

  async progress(): Promise<ReceiverProgress> {
    const { requests, unique, errors } = await this.#call<'progress'>({ type: 'progress' });
    return { requests, unique, errors };
  }

  async collect(): Promise<ReceiverRecords> {
    const { ids, at, lengths, unique, errors, elu } = await this.#call<'records'>({ type: 'collect' });
    return { ids, at, lengths, unique, errors, elu };
  }

  async close(): Promise<void> {
    await this.#call<'done'>({ type: 'close' }).catch(() => undefined);
    await this.#worker.terminate();
  }
}
