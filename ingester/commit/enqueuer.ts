import { ErrorCode } from '../../shared/errors/codes.js';
import { OwhError } from '../../shared/errors/owh-error.js';
import { addJobToTransaction, jobKey, loadScripts, queueClient } from '../../shared/queue/bullmq-internals.js';
import { EVENT_JOB_OPTIONS } from '../../shared/queue/contract.js';
import type { Logger } from '../../shared/observability/logger.js';
import { redisReply } from '../../shared/redis/reply.js';
import { backoffDelayMs } from '../../shared/timing/backoff.js';
import { sleep } from '../../shared/timing/sleep.js';
import { parseCursorWrite, type Cursor, type CursorStore, type StoredCursor } from '../position/cursor-store.js';
import { lineUpEntities } from './entity-index.js';
import { JobDataWriter } from './job-data.js';
import { packEvents, type PendingEvent, type QueuedJob } from './job-packing.js';
import type { Router } from '../routing/router.js';


export interface EnqueuerOptions {
  /** Events buffered before the stream reader is paused. @defaultValue 2000 */
  highWaterMark?: number;
  /** Characters of buffered bodies before the stream reader is paused. @defaultValue 2 MiB */
  highWaterChars?: number;
  /** Delay before retrying a failed Redis write; doubles up to 5 s. @defaultValue 100 */
  retryDelayMs?: number;
  /** Most events in one Redis transaction. @defaultValue 200 */
  maxBatchEvents?: number;
  /** A transaction is closed once its bodies reach this many characters. @defaultValue 1 MiB */
  maxBatchChars?: number;
  /** Most events in one job (INGESTER_EVENTS_PER_JOB; see job-packing.ts). @defaultValue 1 */
  eventsPerJob?: number;
}

/** Events that go to Redis in one transaction, with the position that covers exactly them. */
interface Batch {
  events: PendingEvent[];
  /** Characters of their bodies. */
  chars: number;
  /** Taken when the batch was closed; an open batch takes the position current when it is written. */
  snapshot?: Cursor;
}

export interface EnqueuerDeps {
  /** Which destinations get each event, and their queues (jobs are written as JSON by the enqueuer itself: a queue's data type does not matter here). */
  router: Pick<Router, 'route' | 'routes'>;
  cursor: CursorStore;
  /** The cursor to commit with each batch; read when the batch is taken. */
  snapshot: () => Cursor;
  logger: Logger;
  /** Number of the commit that wrote the cursor the ingester started from (0: none). */
  startCommit: number;
  /** `jobs`: what the events became in every destination's queue (packs hold several). */
  onCommitted: (snapshot: Cursor, batch: readonly PendingEvent[], durationMs: number, jobs: readonly QueuedJob[]) => void;
  /**
   * Redis held an older cursor than the last one committed: it lost writes.
   * The caller must stop reading, rewind to `stored` and read again; the
   * enqueuer has already dropped what it buffered.
   */
  onLostWrites: (stored: StoredCursor | undefined) => void;
  /**
   * Called before each commit, on the connection the commit uses: true while
   * this ingester's leadership term is current (and WATCHed, so a takeover
   * from then on aborts the EXEC), false once another ingester took over.
   */
  fence?: () => Promise<boolean>;
  /** A commit was refused because another ingester took over; the enqueuer has already dropped what it buffered and stopped. */
  onFenced?: () => void;
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

/** The inserts of a commit succeeded but its cursor write found a job missing, so it kept the position. */
class JobsMissingError extends OwhError {
  readonly code = ErrorCode.jobsMissing;
  constructor() {
    super('a job of the commit is not in Redis after its insert; the stream position was not moved');
  }
}

/** HA: another ingester took the lease over; this one must not commit any more. */
class FencedError extends Error {
  override readonly name = 'FencedError';
}

/**
 * Turns admitted events into BullMQ jobs and commits the stream position in
 * the same Redis MULTI. MULTI does not roll back a failed command, so the
 * position is written only if every job of the commit exists (see
 * position/cursor-store.ts): whatever fails or crashes, Redis never holds a position
 * past an event that is not queued. While one write is in flight, new events
 * accumulate and go out in the next one: batches grow by themselves when
 * frames arrive faster than a Redis round trip, up to a cap (events, body
 * size). Without the cap a backlog would make transactions of thousands of
 * events, each blocking Redis for a fifth of a second (stalling every
 * dispatcher) and holding tens of MB in the ingester. A batch closed at the
 * cap keeps the position taken right after its last event, so it never
 * commits a position past events still in the buffer. A failed write is
 * retried with the same jobs (job ids make it idempotent) until it succeeds;
 * meanwhile the buffer fills and `waitForCapacity` pauses the stream reader,
 * which bounds memory. The buffer is bounded in body characters as well as in
 * events: a few batches' worth keeps Redis busy, and 2,000 events of 1 MB
 * each would otherwise be 2 GB of read-ahead.
 */
export class Enqueuer {
  /** Batches closed at the cap, oldest first; then the open one. */
  #closed: Batch[] = [];
  #open: PendingEvent[] = [];
  #openChars = 0;
  #backlog = 0;
  #backlogChars = 0;
  #admitted = 0;
  #admittedChars = 0;
  #positionChanged = false;
  #lastCommit: number;
  #running: Promise<void> | undefined;
  #capacityWaiters: Array<() => void> = [];
  #idleWaiters: Array<() => void> = [];
  /** HA: the lease is lost; nothing more is buffered or committed. */
  #stopped = false;
  readonly #jobData = new JobDataWriter();
  readonly #highWaterMark: number;
  readonly #highWaterChars: number;
  readonly #retryDelayMs: number;
  readonly #maxBatchEvents: number;
  readonly #maxBatchChars: number;
  readonly #eventsPerJob: number;

  constructor(
    private readonly deps: EnqueuerDeps,
    options: EnqueuerOptions = {},
  ) {
    this.#highWaterMark = options.highWaterMark ?? 2_000;
    this.#highWaterChars = options.highWaterChars ?? 2_097_152;
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    this.#maxBatchEvents = options.maxBatchEvents ?? 200;
    this.#maxBatchChars = options.maxBatchChars ?? 1_048_576;
    this.#eventsPerJob = options.eventsPerJob ?? 1;
    this.#lastCommit = deps.startCommit;
  }

  /** Events not yet committed. */
  get backlog(): number {
    return this.#backlog;
  }

  /** Events added since the enqueuer was made. */
  get admitted(): number {
    return this.#admitted;
  }

  /** Characters of those events' bodies (the memory guard's estimate, see backpressure/queue-depth-gate.ts). */
  get admittedChars(): number {
    return this.#admittedChars;
  }

  add(event: PendingEvent): void {
    if (this.#stopped) return;
    this.#open.push(event);
    this.#openChars += event.job.body.length;
    this.#backlog += 1;
    this.#backlogChars += event.job.body.length;
    this.#admitted += 1;
    this.#admittedChars += event.job.body.length;
    if (this.#open.length >= this.#maxBatchEvents || this.#openChars >= this.#maxBatchChars) {
      // Called right after the frame handler admitted this event: the position covers it and nothing later.
      this.#closed.push({ events: this.#open, chars: this.#openChars, snapshot: this.deps.snapshot() });
      this.#open = [];
      this.#openChars = 0;
    }
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
    if (this.#hasCapacity()) return Promise.resolve();
    return new Promise((resolve) => this.#capacityWaiters.push(resolve));
  }

  /** Resolves when everything added so far is committed. */
  flushed(): Promise<void> {
    if (!this.#running && this.#backlog === 0 && !this.#positionChanged) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * HA: the lease is lost. Drops what is buffered (the next leader reads it
   * again from the committed position) and takes nothing more; a commit in
   * flight still goes through the fence.
   */
  stop(): void {
    this.#stopped = true;
    this.#dropBuffer();
    this.#positionChanged = false;
    this.#releaseCapacity();
  }

  /** Forgets every event read but not committed: it will be read again (after a rewind, or by the next leader). */
  #dropBuffer(): void {
    this.#closed = [];
    this.#open = [];
    this.#openChars = 0;
    this.#backlog = 0;
    this.#backlogChars = 0;
  }

  #schedule(): void {
    // setImmediate lets every frame of the chunk being parsed join this batch.
    this.#running ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#drain());
  }

  async #drain(): Promise<void> {
    let failures = 0;
    for (;;) {
      const batch = this.#takeBatch();
      if (!batch) break;
      const snapshot = batch.snapshot ?? this.deps.snapshot();
      try {
        await this.#commit(batch.events, snapshot);
        // A stop() during the commit already dropped the count.
        if (!this.#stopped) {
          this.#backlog -= batch.events.length;
          this.#backlogChars -= batch.chars;
        }
        failures = 0;
      } catch (error) {
        if (error instanceof LostWritesError) {
          // What was buffered lies past the position Redis kept; it will be read again.
          this.#dropBuffer();
          // Redis now holds the cursor this transaction wrote: the next commit, from the rewound
          // position, must find that one, or each commit would take the previous one for lost
          // writes and the ingester would rewind back and forth forever (as after a Sentinel failover).
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
        // Retried first, with the position it was taken with; a newer position follows in a later commit.
        this.#closed.unshift({ events: batch.events, chars: batch.chars, snapshot });
        this.#positionChanged = true;
        failures += 1;
        // One writer retrying its own batch: no crowd for jitter to spread.
        const delayMs = backoffDelayMs(failures - 1, { initialMs: this.#retryDelayMs, maxMs: 5_000, jitter: 0 });
        this.deps.logger.warn({ err: error, jobs: batch.events.length, retryInMs: delayMs }, 'enqueue.failed');
        await sleep(delayMs);
      }
      this.#releaseCapacity();
    }
    this.#running = undefined;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  /** The oldest closed batch; else the open one (also when empty, if only the position moved); else nothing to write. */
  #takeBatch(): Batch | undefined {
    const closed = this.#closed.shift();
    if (closed) return closed;
    if (this.#open.length === 0 && !this.#positionChanged) return undefined;
    const batch = { events: this.#open, chars: this.#openChars };
    this.#open = [];
    this.#openChars = 0;
    this.#positionChanged = false;
    return batch;
  }

  async #commit(batch: PendingEvent[], snapshot: Cursor): Promise<void> {
    const started = Date.now();
    const { router, cursor } = this.deps;
    // Routed before the fence: the fence's WATCH must see nothing but the transaction.
    const routed = batch.length > 0 ? await router.route(batch) : [];
    // Every destination queue shares the connector's hash tag and the commit connection.
    const client = await queueClient(router.routes[0]!.queue);
    if (this.deps.fence && !(await this.deps.fence())) throw new FencedError('another ingester took the lease over');
    const transaction = client.multi();
    // One commit at a time (#drain): the previous one is answered, or was never sent.
    this.#jobData.reuse();
    const jobs: QueuedJob[] = [];
    const jobKeys: string[] = [];
    for (const { route, events } of routed) {
      const routeJobs = packEvents(events, this.#eventsPerJob, batch.length);
      await Promise.all(
        routeJobs.map(({ id, name, data }) => addJobToTransaction(route.queue, transaction, { id, name, data: this.#jobData.write(data) }, EVENT_JOB_OPTIONS)),
      );
      // Per-entity ordering (ORDERING=entity).
      lineUpEntities(transaction, route.orderScope, events);
      jobs.push(...routeJobs);
      for (const { id } of routeJobs) jobKeys.push(jobKey(route.queue, id));
    }
    const commit = this.#lastCommit + 1;
    // Last: its reply is the last one, however many commands the inserts queued.
    cursor.write(transaction, snapshot, commit, jobKeys);
    const results = await transaction.exec();
    if (!results) {
      // With a fence, only a takeover aborts the EXEC; check, to tell it from anything else.
      if (this.deps.fence && !(await this.deps.fence())) throw new FencedError('another ingester took the lease over');
      throw new Error('Redis transaction aborted');
    }
    const [cursorError, cursorReply] = results[results.length - 1] ?? [new Error('EXEC returned no reply')];
    const write = cursorError ? undefined : parseCursorWrite(cursorReply);
    const failed = results.find(([error]) => error)?.[0];
    if (failed) {
      // MULTI does not roll back: if the cursor was written anyway (every job existed,
      // e.g. from an earlier attempt), Redis holds commit `commit` now, and the retry
      // (same jobs, idempotent) must expect it.
      if (write?.written && (write.before?.commit ?? 0) === this.#lastCommit) this.#lastCommit = commit;
      if (redisReply(failed)?.code === 'NOSCRIPT') await loadScripts(client);
      throw failed;
    }
    // Every insert succeeded, yet a job hash is missing: the installed BullMQ does not create it
    // on insert, which shared/queue/bullmq-internals.ts (jobKey) assumes. The position stayed; retrying is safe.
    if (!write?.written) throw new JobsMissingError();
    if ((write.before?.commit ?? 0) !== this.#lastCommit) throw new LostWritesError(write.before, commit);
    this.#lastCommit = commit;
    this.deps.onCommitted(snapshot, batch, Date.now() - started, jobs);
  }

  #hasCapacity(): boolean {
    return this.#backlog < this.#highWaterMark && this.#backlogChars < this.#highWaterChars;
  }

  #releaseCapacity(): void {
    if (!this.#hasCapacity()) return;
    for (const resolve of this.#capacityWaiters.splice(0)) resolve();
  }
}
