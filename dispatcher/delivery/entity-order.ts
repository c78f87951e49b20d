import { DelayedError, type Job, type Queue, type Worker } from 'bullmq';
import { promoteDelayedJob } from '../../shared/queue/bullmq-internals.js';
import type { RedisClient } from '../../shared/redis/client.js';
import { entityOrderKey, entityOrderMember } from '../../shared/queue/entity-order.js';
import type { Logger } from '../../shared/observability/logger.js';
import type { EventJob } from '../../shared/queue/contract.js';

// Both scripts share `frontOfLine`: the first member of the line whose job
// still has to be delivered. A job that no longer exists (removed in the
// board, trimmed from the history), or that is already completed or failed
// (its release was lost to a crash or a Redis error) can never release its
// line, so it is dropped here: nothing stays stuck behind it. Bounded, so
// that one call never holds Redis long; the next call goes on.
//   KEYS[1] line, KEYS[2] completed set, KEYS[3] failed set
//   ARGV[1] member, ARGV[2] job key prefix (`<prefix>:events:`)
const FRONT_OF_LINE = `
local function jobIdOf(member) return string.match(member, ':(.*)$') end
local function pending(member)
  local id = jobIdOf(member)
  return redis.call('EXISTS', ARGV[2] .. id) == 1
    and not redis.call('ZSCORE', KEYS[2], id)
    and not redis.call('ZSCORE', KEYS[3], id)
end
-- Returns the front member (or false) and whether dead members were dropped.
local function frontOfLine()
  local dropped = false
  for _ = 1, 100 do
    local front = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
    if not front or pending(front) then return front, dropped end
    redis.call('ZREM', KEYS[1], front)
    dropped = true
  end
  return redis.call('ZRANGE', KEYS[1], 0, 0)[1], dropped
end
`;

/** -1: the job is not in line (deliver it now); 0: it is the front (deliver it); n > 0: n events are ahead of it. */
const CLAIM = `${FRONT_OF_LINE}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return -1 end
local front = frontOfLine()
if front == ARGV[1] then return 0 end
return redis.call('ZRANK', KEYS[1], ARGV[1])`;

/**
 * Takes the job out of its line. Returns the job id of the new front when it
 * may have been waiting for this (the job was the front, or dead members
 * ahead were dropped), so the caller wakes it; false otherwise (a job taken
 * out from the middle, e.g. a filtered event, wakes nobody: the front may be
 * in a retry backoff that must not be cut short). An empty line disappears.
 */
const RELEASE = `${FRONT_OF_LINE}
local first = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if not first then return false end
redis.call('ZREM', KEYS[1], ARGV[1])
local front, dropped = frontOfLine()
if front and (first == ARGV[1] or dropped) then return jobIdOf(front) end
return false`;

/** A parked event looks again after this many ms per event ahead of it, in case its wake-up was lost. */
const RECHECK_PER_RANK_MS = 5_000;
const MAX_RECHECK_MS = 60_000;

export interface EntityOrderDeps {
  redis: RedisClient;
  /** The destination's queue: key names, and promotion of parked events. */
  queue: Queue;
  /** Prefix of the destination's lines (DestinationKeys.orderScope). */
  orderScope: string;
  logger: Logger;
  /** Called each time an event parks behind an earlier event of its object. */
  onParked?: () => void;
}

type LineScript = (key: string, completed: string, failed: string, member: string, jobPrefix: string) => Promise<unknown>;

/**
 * Per-entity ordering, dispatcher side (WEBHOOK_ORDERING=entity; the ingester
 * lines events up, see shared/queue/entity-order.ts). Only the front of an object's
 * line is delivered. Any other event parks in BullMQ's delayed set without
 * spending an attempt, and is woken (promoted) when the event ahead of it is
 * released: after its 2xx, its filtering or its dead-lettering — never after a
 * failed attempt, so a retrying event keeps its object's later events waiting.
 * Releases happen after BullMQ recorded the outcome, so a crash between the
 * 2xx and that record redelivers the event before any later one. A lost
 * wake-up costs at most one re-check delay. Events that carry no `entity`
 * pay nothing.
 */
export class EntityOrder {
  readonly #deps: EntityOrderDeps;
  readonly #claim: LineScript;
  readonly #release: LineScript;

  constructor(deps: EntityOrderDeps) {
    this.#deps = deps;
    const redis = deps.redis as RedisClient & { entityOrderClaim: LineScript; entityOrderRelease: LineScript };
    // defineCommand: EVALSHA, the script text sent only once per connection.
    redis.defineCommand('entityOrderClaim', { numberOfKeys: 3, lua: CLAIM });
    redis.defineCommand('entityOrderRelease', { numberOfKeys: 3, lua: RELEASE });
    this.#claim = (...args) => redis.entityOrderClaim(...args);
    this.#release = (...args) => redis.entityOrderRelease(...args);
  }

  /**
   * Resolves when the event may be delivered now. Otherwise parks it and
   * throws DelayedError (BullMQ then neither charges an attempt nor fails it).
   */
  async claim(job: Job<EventJob>, token: string | undefined, entity: string): Promise<void> {
    const rank = Number(await this.#run(this.#claim, job, entity));
    if (rank <= 0) return;
    this.#deps.onParked?.();
    await job.moveToDelayed(Date.now() + Math.min(rank * RECHECK_PER_RANK_MS, MAX_RECHECK_MS), token);
    // The event ahead may have been released between the claim and the park:
    // its release then found this job active and could not wake it. Look again.
    if (Number(await this.#run(this.#claim, job, entity)) === 0) await this.#wake(job.id!);
    throw new DelayedError();
  }

  /** Takes a finished event (2xx, filtered, dead-lettered) out of its line and wakes the next one. */
  async release(job: Job<EventJob>): Promise<void> {
    const { entity } = job.data;
    if (entity === undefined || job.id === undefined) return;
    try {
      const next = await this.#run(this.#release, job, entity);
      if (typeof next === 'string') await this.#wake(next);
    } catch (error) {
      // The next event finds the line's front finished at its next re-check.
      this.#deps.logger.warn({ jobId: job.id, err: { message: (error as Error).message } }, 'ordering.release_failed');
    }
  }

  /** Releases every event the worker finishes for good; a failed attempt that will be retried keeps its place. */
  attach(worker: Worker<EventJob>): void {
    worker.on('completed', (job) => void this.release(job));
    worker.on('failed', (job) => {
      if (job && job.finishedOn !== undefined) void this.release(job);
    });
  }

  #run(script: LineScript, job: Job<EventJob>, entity: string): Promise<unknown> {
    const { queue, orderScope } = this.#deps;
    return script(entityOrderKey(orderScope, entity), queue.keys.completed!, queue.keys.failed!, entityOrderMember(job.data.streamId, job.id!), queue.toKey(''));
  }

  async #wake(jobId: string): Promise<void> {
    try {
      await promoteDelayedJob(this.#deps.queue, jobId);
    } catch (error) {
      // Not delayed (already woken, waiting or active) or gone: nothing to wake.
      if (typeof (error as { code?: unknown }).code === 'number') return;
      this.#deps.logger.warn({ jobId, err: { message: (error as Error).message } }, 'ordering.wake_failed');
    }
  }
}

/**
 * The ingester decides the mode (it lines events up); a dispatcher's own
 * WEBHOOK_ORDERING only says what the operator expects. Says so when the two
 * differ, which is the likely mistake of setting the variable on one process only.
 */
export async function reportOrderingMode(redis: RedisClient, key: string, configured: 'none' | 'entity', variable: string, logger: Logger): Promise<void> {
  const ingester = await redis.get(key).catch(() => null);
  if (ingester === null || ingester === configured) return;
  if (configured === 'entity') {
    logger.warn({ ingester, hint: `${variable}=entity is set for this dispatcher, but the ingester queues events unordered; set ${variable}=entity for the ingester (it decides)` }, 'ordering.not_lined_up');
  } else {
    logger.warn({ ingester, hint: `the ingester runs with ${variable}=entity, so events are delivered in order per entity whatever this dispatcher's ${variable} says; set the same value on every process` }, 'ordering.lined_up');
  }
}
