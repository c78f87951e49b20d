import type { Queue } from 'bullmq';
import type { Logger } from '../../shared/observability/logger.js';
import { sleep } from '../../shared/timing/sleep.js';
import type { RecentJobSizes } from './recent-job-sizes.js';
import type { RedisMemory } from './redis-memory.js';

/** The events read but not yet in the queue (the enqueuer). */
interface ReadCounter {
  /** Events taken from the stream so far. */
  readonly admitted: number;
  /** Characters of their bodies. */
  readonly admittedChars: number;
  /** Of those, the ones not yet committed to the queue. */
  readonly backlog: number;
}

export interface QueueDepthGateOptions {
  /** Pending events above which reading stops. */
  highWaterMark: number;
  /** Pending events below which reading resumes. */
  lowWaterMark: number;
  /** Share of Redis's maxmemory from which reading stops. @defaultValue 0.9 */
  memoryHighRatio?: number;
  /** Share of Redis's maxmemory below which reading resumes. @defaultValue 0.8 */
  memoryLowRatio?: number;
  /** How often the depth and memory are read, at most. @defaultValue 1000 */
  checkIntervalMs?: number;
}

/** What the gate reports as it reads (metrics). */
interface GateObserver {
  /** Reading is stopped (true) or goes on (false); undefined while the queue depth cannot be read. */
  paused(paused: boolean | undefined): void;
  /** used_memory / maxmemory at the last reading; undefined without a maxmemory, or when it could not be read. */
  memoryRatio(ratio: number | undefined): void;
}

export interface QueueDepthGateDeps {
  queue: Pick<Queue, 'getJobCountByTypes'>;
  reader: ReadCounter;
  /** Events per queued job (packs hold several). */
  jobSizes: Pick<RecentJobSizes, 'eventsInNewest'>;
  /** Redis memory (shared/redis-memory.ts); without it only the depth counts. */
  memory?: () => Promise<RedisMemory | undefined>;
  logger: Logger;
  observer?: GateObserver;
}

interface Reading {
  depth: number;
  /** Redis memory with the events read but not yet committed: they will be, whatever the gate says. */
  memory: RedisMemory | undefined;
}

type PauseReason = 'queue_full' | 'redis_memory' | 'unreadable';

const HINTS: Record<PauseReason, string> = {
  queue_full: 'the queue holds INGESTER_MAX_QUEUED_EVENTS events; reading resumes when it drains below 80 % of that',
  redis_memory:
    "Redis uses INGESTER_MAX_REDIS_MEMORY_PERCENT of its maxmemory; reading resumes 10 points below, as dispatchers drain the queue (dead letters take memory too: replay or discard them)",
  unreadable: 'the queue depth cannot be read from Redis; reading resumes once it can',
};

/**
 * Bytes of Redis memory assumed per character of event body read but not yet
 * in Redis (buffered, or read since the last reading): the job holds the body
 * JSON-escaped, and the AOF buffer holds another copy until it is written. An
 * estimate that errs high stops early.
 */
const MEMORY_PER_CHAR = 2;

/**
 * Stops the stream reader while the queue holds too many undelivered events
 * (a long endpoint outage), or Redis nears its maxmemory (dead letters, other
 * tenants), so Redis memory stays bounded and a commit is never refused for
 * lack of memory (noeviction); the platform keeps the events meanwhile.
 * Reading resumes below the low marks (hysteresis, so it does not flap). The
 * check sits on the per-chunk path, so Redis is read at most once per
 * interval; in between, depth and memory are estimated from what was read
 * since (a fast reader fills thousands of events in an interval). Reading
 * also stops while the depth cannot be read: nothing would bound it.
 */
export class QueueDepthGate {
  readonly #options: Required<QueueDepthGateOptions>;
  #checkedAt = 0;
  /** Depth read at the last check, with the reader's buffer; and the reader's counts then. */
  #depthAtCheck = 0;
  #memoryAtCheck: RedisMemory | undefined;
  #admittedAtCheck = 0;
  #charsAtCheck = 0;
  #depthUnreadable = false;
  #memoryUnreadable = false;
  #closed = false;
  #waiting: Promise<void> | undefined;
  /** Aborted by stop(): ends the wait between two reads at once. */
  readonly #stopping = new AbortController();

  constructor(
    private readonly deps: QueueDepthGateDeps,
    options: QueueDepthGateOptions,
  ) {
    this.#options = { checkIntervalMs: 1_000, memoryHighRatio: 0.9, memoryLowRatio: 0.8, ...options };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves when the queue and Redis have room; the stream reader awaits it before each read. */
  async waitForRoom(): Promise<void> {
    if (this.#waiting) return this.#waiting;
    if (!this.#due()) return;
    const reading = await this.#read();
    const reason = this.#pauseReason(reading, 'high');
    if (reason === undefined) return;
    this.#waiting ??= this.#waitForLowMarks(reason, reading).finally(() => (this.#waiting = undefined));
    return this.#waiting;
  }

  stop(): void {
    this.#stopping.abort();
    this.deps.observer?.memoryRatio(undefined);
  }

  /** True once the last reading is too old, or what was read since could reach a high mark. */
  #due(): boolean {
    if (Date.now() - this.#checkedAt >= this.#options.checkIntervalMs) return true;
    if (this.#depthAtCheck + this.deps.reader.admitted - this.#admittedAtCheck >= this.#options.highWaterMark) return true;
    const memory = this.#memoryAtCheck;
    if (!memory) return false;
    const grown = MEMORY_PER_CHAR * (this.deps.reader.admittedChars - this.#charsAtCheck);
    return memory.usedBytes + grown >= this.#options.memoryHighRatio * memory.maxBytes;
  }

  async #waitForLowMarks(reason: PauseReason, first: Reading | undefined): Promise<void> {
    const pausedAt = Date.now();
    this.#setClosed(true);
    this.deps.logger.warn(
      {
        reason,
        queued: first?.depth,
        highWaterMark: this.#options.highWaterMark,
        redisMemoryWithBuffer: first?.memory && Math.round(first.memory.usedBytes),
        redisMaxmemory: first?.memory?.maxBytes,
        hint: HINTS[reason],
      },
      'stream.paused',
    );
    let reading = first;
    while (!this.#stopping.signal.aborted && this.#pauseReason(reading, 'low') !== undefined) {
      await sleep(this.#options.checkIntervalMs, { signal: this.#stopping.signal });
      if (this.#stopping.signal.aborted) break;
      reading = await this.#read();
    }
    this.deps.logger.info({ pausedMs: Date.now() - pausedAt }, 'stream.resumed');
    this.#setClosed(false);
  }

  /** Why reading must stop (high marks) or stay stopped (low marks); undefined when there is room. */
  #pauseReason(reading: Reading | undefined, marks: 'high' | 'low'): PauseReason | undefined {
    if (!reading) return 'unreadable';
    const high = marks === 'high';
    if (high ? reading.depth >= this.#options.highWaterMark : reading.depth > this.#options.lowWaterMark) return 'queue_full';
    const { memory } = reading;
    const ratio = high ? this.#options.memoryHighRatio : this.#options.memoryLowRatio;
    if (memory && memory.usedBytes >= ratio * memory.maxBytes) return 'redis_memory';
    return undefined;
  }

  /** Queued plus buffered events, and Redis memory; undefined when the depth cannot be read. */
  async #read(): Promise<Reading | undefined> {
    const { reader, logger } = this.deps;
    this.#checkedAt = Date.now();
    this.#admittedAtCheck = reader.admitted;
    this.#charsAtCheck = reader.admittedChars;
    // The buffer is read first: a commit in between counts twice, never zero times.
    const buffered = reader.backlog;
    const bufferedChars = reader.admitted > 0 ? (buffered * reader.admittedChars) / reader.admitted : 0;
    let jobs: number;
    try {
      // Active jobs too (BullMQ's count() leaves them out): a pack being delivered holds up to a pack of events.
      jobs = await this.deps.queue.getJobCountByTypes('waiting', 'delayed', 'prioritized', 'waiting-children', 'active');
    } catch (error) {
      if (!this.#depthUnreadable) logger.warn({ err: { message: (error as Error).message }, hint: HINTS.unreadable }, 'queue.depth_unreadable');
      this.#depthUnreadable = true;
      this.deps.observer?.paused(undefined);
      this.#noteMemory(undefined);
      return undefined;
    }
    if (this.#depthUnreadable) logger.info('queue.depth_readable');
    this.#depthUnreadable = false;
    this.deps.observer?.paused(this.#closed);
    this.#depthAtCheck = buffered + this.deps.jobSizes.eventsInNewest(jobs);
    const memory = await this.#readMemory();
    this.#memoryAtCheck = memory && { usedBytes: memory.usedBytes + MEMORY_PER_CHAR * bufferedChars, maxBytes: memory.maxBytes };
    return { depth: this.#depthAtCheck, memory: this.#memoryAtCheck };
  }

  /**
   * Redis memory, or undefined without a maxmemory. A failed read (an ACL
   * without INFO) leaves the depth alone in charge, said once, rather than
   * stopping a pipeline that worked without it.
   */
  async #readMemory(): Promise<RedisMemory | undefined> {
    if (!this.deps.memory) return undefined;
    try {
      const memory = await this.deps.memory();
      if (this.#memoryUnreadable) this.deps.logger.info('redis.memory_readable');
      this.#memoryUnreadable = false;
      this.#noteMemory(memory);
      return memory;
    } catch (error) {
      if (!this.#memoryUnreadable) {
        this.deps.logger.warn(
          { err: { message: (error as Error).message }, hint: 'INFO memory cannot be read: reading stops only on INGESTER_MAX_QUEUED_EVENTS until it can (grant +info to the Redis user)' },
          'redis.memory_unreadable',
        );
      }
      this.#memoryUnreadable = true;
      this.#noteMemory(undefined);
      return undefined;
    }
  }

  #noteMemory(memory: RedisMemory | undefined): void {
    this.#memoryAtCheck = undefined;
    this.deps.observer?.memoryRatio(memory ? memory.usedBytes / memory.maxBytes : undefined);
  }

  /** Reported while the depth can be read; otherwise the gauge stays reset (see #read), never at a stale value. */
  #setClosed(closed: boolean): void {
    this.#closed = closed;
    if (!this.#depthUnreadable) this.deps.observer?.paused(closed);
  }
}
