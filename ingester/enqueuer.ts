import { Job, type Queue } from 'bullmq';
import { EVENT_JOB_OPTIONS, type EventJob } from '../shared/queue.js';
import type { Logger } from '../shared/logger.js';
import { isNoScript, loadScripts, type RedisClient } from '../shared/redis.js';
import { parseCursor, type Cursor, type CursorStore, type StoredCursor } from './cursor-store.js';
import { lineUpEntities } from './entity-index.js';

export interface PendingEvent {
  eventId: string;
  job: EventJob;
}

export interface EnqueuerOptions {
  /** Events buffered before the stream reader is paused. @defaultValue 2000 */
  highWaterMark?: number;
  /** Delay before retrying a failed Redis write; doubles up to 5 s. @defaultValue 100 */
  retryDelayMs?: number;
}

export interface EnqueuerDeps {
  queue: Queue<EventJob>;
  cursor: CursorStore;
  /** The cursor to commit with each batch; read when the batch is taken. */
  snapshot: () => Cursor;
  logger: Logger;
  /** Number of the commit that wrote the cursor the ingester started from (0: none). */
  startCommit: number;
  onCommitted: (snapshot: Cursor, batch: readonly PendingEvent[], durationMs: number) => void;
  /**
   * Redis held an older cursor than the last one committed: it lost writes.
   * The caller must stop reading, rewind to `stored` and read again; the
   * enqueuer has already dropped what it buffered.
   */
  onLostWrites: (stored: StoredCursor | undefined) => void;
  // --- HA ingester (lease fencing, see lease.ts) ---
  /**
   * Called before each commit, on the connection the commit uses: true while
   * this ingester's leadership term is current (and WATCHed, so a takeover
   * from then on aborts the EXEC), false once another ingester took over.
   */
  fence?: () => Promise<boolean>;
  /** A commit was refused because another ingester took over; the enqueuer has already dropped what it buffered and stopped. */
  onFenced?: () => void;
  // --- end HA ---
}

/** The cursor found in Redis before a write was not the one last written. */
class LostWritesError extends Error {
  override readonly name = 'LostWritesError';
  /** `written`: the commit number the same transaction wrote anyway (MULTI does not roll back). */
  constructor(
    readonly stored: StoredCursor | undefined,
    readonly written: number,
  ) {
    super('Redis lost the last committed writes');
  }
}

/** HA: another ingester took the lease over; this one must not commit any more. */
class FencedError extends Error {
  override readonly name = 'FencedError';
}

/**
 * Turns admitted events into BullMQ jobs and commits the stream position in
 * the same Redis MULTI, so a crash at any instant leaves either both or
 * neither. While one write is in flight, new events accumulate and go out in
 * the next one: batches grow by themselves when frames arrive faster than a
 * Redis round trip. A failed write is retried with the same jobs (job ids make
 * it idempotent) until it succeeds; meanwhile the buffer fills and
 * `waitForCapacity` pauses the stream reader, which bounds memory.
 */
export class Enqueuer {
  #pending: PendingEvent[] = [];
  #positionChanged = false;
  #lastCommit: number;
  #running: Promise<void> | undefined;
  #capacityWaiters: Array<() => void> = [];
  #idleWaiters: Array<() => void> = [];
  /** HA: the lease is lost; nothing more is buffered or committed. */
  #stopped = false;
  readonly #highWaterMark: number;
  readonly #retryDelayMs: number;

  constructor(
    private readonly deps: EnqueuerDeps,
    options: EnqueuerOptions = {},
  ) {
    this.#highWaterMark = options.highWaterMark ?? 2_000;
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    this.#lastCommit = deps.startCommit;
  }

  get backlog(): number {
    return this.#pending.length;
  }

  add(event: PendingEvent): void {
    if (this.#stopped) return;
    this.#pending.push(event);
    this.#schedule();
  }

  /** The position moved without a new event (a heartbeat): commit it too. */
  positionChanged(): void {
    if (this.#stopped) return;
    this.#positionChanged = true;
    this.#schedule();
  }

  /** Resolves when the buffer has room; the stream reader awaits this before each read. */
  waitForCapacity(): Promise<void> {
    if (this.#pending.length < this.#highWaterMark) return Promise.resolve();
    return new Promise((resolve) => this.#capacityWaiters.push(resolve));
  }

  /** Resolves when everything added so far is committed. */
  flushed(): Promise<void> {
    if (!this.#running && this.#pending.length === 0 && !this.#positionChanged) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * HA: the lease is lost. Drops what is buffered (the next leader reads it
   * again from the committed position) and takes nothing more; a commit in
   * flight still goes through the fence.
   */
  stop(): void {
    this.#stopped = true;
    this.#pending = [];
    this.#positionChanged = false;
    this.#releaseCapacity();
  }

  #schedule(): void {
    // setImmediate lets every frame of the chunk being parsed join this batch.
    this.#running ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#drain());
  }

  async #drain(): Promise<void> {
    let failures = 0;
    while (this.#pending.length > 0 || this.#positionChanged) {
      const batch = this.#pending;
      const snapshot = this.deps.snapshot();
      this.#pending = [];
      this.#positionChanged = false;
      try {
        await this.#commit(batch, snapshot);
        failures = 0;
      } catch (error) {
        if (error instanceof LostWritesError) {
          // What was buffered lies past the position Redis kept; it will be read again.
          this.#pending = [];
          // Redis now holds the cursor this transaction wrote: the next commit, from the rewound
          // position, must find that one, or each commit would take the previous one for lost
          // writes and the ingester would rewind back and forth forever (seen on a Sentinel failover).
          this.#lastCommit = error.written;
          this.deps.onLostWrites(error.stored);
          continue;
        }
        if (error instanceof FencedError) {
          this.stop();
          this.deps.onFenced?.();
          continue;
        }
        if (this.#stopped) continue; // HA: the lease is lost; the next leader reads the batch again.
        // Put the batch back in front; the next attempt commits it with the newer position.
        this.#pending = batch.concat(this.#pending);
        this.#positionChanged = true;
        failures += 1;
        const delayMs = Math.min(this.#retryDelayMs * 2 ** (failures - 1), 5_000);
        this.deps.logger.warn({ err: error, jobs: batch.length, retryInMs: delayMs }, 'enqueue.failed');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
      this.#releaseCapacity();
    }
    this.#running = undefined;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  async #commit(batch: PendingEvent[], snapshot: Cursor): Promise<void> {
    const started = Date.now();
    const { queue, cursor } = this.deps;
    const backend = queue.getBackend();
    const client = await backend.client;
    if (this.deps.fence && !(await this.deps.fence())) throw new FencedError('another ingester took the lease over');
    const transaction = client.multi();
    // addJobToTransaction is public on RedisQueueBackend for exactly this:
    // several inserts in one caller-owned transaction (BullMQ's own addBulk
    // uses a plain pipeline, which is not atomic).
    await Promise.all(
      batch.map(({ eventId, job }) => {
        const json = new Job(queue, job.event, job, { ...EVENT_JOB_OPTIONS, jobId: eventId }, eventId).asJSON();
        return backend.addJobToTransaction(transaction, json, eventId);
      }),
    );
    const commit = this.#lastCommit + 1;
    cursor.write(transaction, snapshot, commit);
    // Per-entity ordering (WEBHOOK_ORDERING=entity); after the cursor, whose reply stays results[batch.length].
    lineUpEntities(transaction, queue.opts.prefix ?? '', batch);
    const results = await transaction.exec();
    if (!results) {
      // With a fence, only a takeover aborts the EXEC; check, to tell it from anything else.
      if (this.deps.fence && !(await this.deps.fence())) throw new FencedError('another ingester took the lease over');
      throw new Error('Redis transaction aborted');
    }
    const failed = results.find(([error]) => error);
    if (failed) {
      // MULTI does not roll back: if the cursor write itself went through, Redis holds
      // commit `commit` now, and the retry (same jobs, idempotent) must expect it.
      if (!results[batch.length + 1]?.[0] && (parseCursor(results[batch.length]?.[1])?.commit ?? 0) === this.#lastCommit) this.#lastCommit = commit;
      // BullMQ's client of the commit queue is the ioredis connection main.ts gave it.
      if (isNoScript(failed[0])) await loadScripts(client as unknown as RedisClient);
      throw failed[0];
    }
    const before = parseCursor(results[batch.length]?.[1]);
    if ((before?.commit ?? 0) !== this.#lastCommit) throw new LostWritesError(before, commit);
    this.#lastCommit = commit;
    this.deps.onCommitted(snapshot, batch, Date.now() - started);
  }

  #releaseCapacity(): void {
    if (this.#pending.length >= this.#highWaterMark) return;
    for (const resolve of this.#capacityWaiters.splice(0)) resolve();
  }
}
