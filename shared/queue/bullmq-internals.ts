import { ErrorCode, Job, type IRedisClient, type IRedisTransaction, type JobJson, type JobsOptions, type Queue } from 'bullmq';
import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from '../redis/client.js';

/**
 * Everything the product takes from BullMQ (and ioredis) beyond their
 * documented API, in one place, so that an upgrade has one file to check.
 * test/integration/bullmq-contract.test.ts pins each item below against the
 * installed versions and fails when one changes shape.
 */

/** The BullMQ release these internals were checked against (package.json pins it exactly). */
export const BULLMQ_VERSION = '6.7.6';

/**
 * Commands `addJobToTransaction` queues per job: one EVALSHA (an EVAL on a
 * socket's first use). The enqueuer does not index replies by it (it reads the
 * cursor's reply last), but a change would mean BullMQ now adds a job in
 * several steps that MULTI does not roll back together, which is worth a look.
 */
export const COMMANDS_PER_JOB = 1;

/**
 * The queue's Redis connection (the ioredis client the process gave BullMQ,
 * seen through BullMQ's wrapper, whose transactions take `runCommand`).
 * `Queue` does not expose it in 6.x; the backend does, as a Redis-only
 * escape hatch.
 */
export function queueClient(queue: Queue): Promise<IRedisClient> {
  return queue.getBackend().client;
}

/**
 * The options `addJobToTransaction` takes: those a Job stores as given. Others
 * change what Job builds (a numeric backoff, parent, repeatJobKey) or which
 * script inserts the job (delay, priority).
 */
type AddedJobOptions = Pick<JobsOptions, 'attempts' | 'stackTraceLimit' | 'removeOnComplete' | 'removeOnFail' | 'keepLogs'> & {
  backoff?: Exclude<JobsOptions['backoff'], number>;
};

export interface JobToAdd {
  id: string;
  name: string;
  /** The UTF-8 bytes of the data's JSON, exactly what BullMQ's own add would store (`JSON.stringify(data)`). */
  data: Uint8Array;
}

/**
 * Queues the insert of one job into a caller-owned MULTI. `addJobToTransaction`
 * is public on BullMQ's RedisQueueBackend but outside its documented API (it
 * exists for FlowProducer); BullMQ's own addBulk uses a plain pipeline, which
 * is not atomic. It takes the fields of `new Job(...).asJSON()` that an insert
 * reads; they are built here without a Job, whose construction and
 * serialisation (data, failedReason, stacktrace, returnvalue) were a fifth of
 * the ingester's CPU. The data goes as bytes: ioredis would measure and copy
 * a string argument twice more. Pinned by test/integration/bullmq-contract.test.ts:
 * the job hash is the one `queue.add` stores for the same job.
 */
export function addJobToTransaction(queue: Queue, transaction: IRedisTransaction, job: JobToAdd, options: AddedJobOptions): Promise<string> {
  // As Job's constructor: attempts defaults to 0, and the id is an option too.
  const opts = { attempts: 0, ...options, jobId: job.id };
  const fields = { id: job.id, name: job.name, data: job.data as unknown as string, opts, timestamp: Date.now() };
  return queue.getBackend().addJobToTransaction(transaction, fields as JobJson, job.id);
}

/**
 * The Redis hash holding a job: it exists from the moment the job is added
 * until the job is removed. The enqueuer's cursor write checks it.
 */
export function jobKey(queue: Queue, jobId: string): string {
  return queue.toKey(jobId);
}

/**
 * Moves a delayed job to the wait list by id, without loading the job first
 * (`Job.promote()` needs the Job). Rejects with a numeric `code` (BullMQ's
 * script error code) when the job is not delayed or is gone.
 */
export function promoteDelayedJob(queue: Queue, jobId: string): Promise<void> {
  return queue.getBackend().promote(jobId);
}

/**
 * Loads every Lua script defined on `client` (BullMQ's, through ioredis'
 * defineCommand, whose registry `scriptsSet` is not public) into the servers
 * that run its commands. ioredis sends a script's text only the first time it
 * is used on a socket, and marks the socket when it writes the command, not
 * when Redis runs it: a transaction aborted by WATCH, a SCRIPT FLUSH, or a
 * replica promoted by a failover then leaves EVALSHA failing with NOSCRIPT on
 * every later MULTI, where ioredis cannot fall back to EVAL. Loading them
 * unmarks nothing and makes those EVALSHAs succeed.
 */
export async function loadScripts(client: IRedisClient | RedisClient): Promise<void> {
  // BullMQ's client is a Proxy over the ioredis instance the process gave it: same object underneath.
  const redis = client as RedisClient;
  const scripts = Object.values((redis as unknown as { scriptsSet: Record<string, { lua: string }> }).scriptsSet);
  const servers: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  await Promise.all(servers.flatMap((server) => scripts.map(({ lua }) => server.script('LOAD', lua))));
}

// KEYS[1] the job hash, ARGV[1] the progress as JSON. A job gone (taken over
// and completed elsewhere, then trimmed) is not brought back as a stray hash.
const WRITE_PROGRESS = `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'progress', ARGV[1])
return 1`;

type WriteProgressCommand = (jobKey: string, progress: string) => Promise<number>;

/**
 * Writes a job's `progress` as `Job.updateProgress` stores it (JSON in the job
 * hash's `progress` field, which `job.progress` parses when the job is
 * loaded), without the `progress` event that updateProgress also appends to
 * the queue's event stream: nothing of ours listens to it, and one Lua call
 * with an XADD per settled event was most of Redis' work in a drain of packs.
 * Resolves false when the job no longer exists. Runs on `redis`, the
 * connection the worker completes jobs on, so a write sent before the
 * completion lands before it.
 */
export function progressWriter(redis: RedisClient, queue: Queue): (jobId: string, progress: unknown) => Promise<boolean> {
  const client = redis as RedisClient & { owhWriteJobProgress?: WriteProgressCommand };
  // defineCommand: EVALSHA, the script text sent only once per connection.
  if (client.owhWriteJobProgress === undefined) client.defineCommand('owhWriteJobProgress', { numberOfKeys: 1, lua: WRITE_PROGRESS });
  const write = client.owhWriteJobProgress!.bind(client);
  return async (jobId, progress) => (await write(jobKey(queue, jobId), JSON.stringify(progress))) === 1;
}

/*
 * Worker internals that the dispatcher's restart reclaim (dispatcher/worker/reclaim.ts)
 * relies on, pinned by test/integration/bullmq-worker-contract.test.ts:
 * - A Worker's blocking connection is named (CLIENT SETNAME)
 *   `<prefix>:<base64(queue name)>:w:<worker name>` once the worker is ready;
 *   `queue.getWorkers()` lists it with that `rawname`. A live (or half-open)
 *   worker of a given name is therefore visible to every process.
 * - A job taken by a Worker records the worker's `name` as `job.processedBy`
 *   and the pickup time as `job.processedOn`.
 * - A held job's lock is the string `<job key>:lock` holding the holder's
 *   token. `job.moveToWait(token)` checks that token, deletes the lock and
 *   puts the job at the head of the wait list in one script, and fails with
 *   code -2 (no lock) or -6 (another token) when the job changed hands.
 * - The job hash field `stc` is the stalled counter (`job.stalledCounter`)
 *   that the stalled-job check compares with `maxStalledCount`.
 */
/** The client name BullMQ gives the blocking connection of a Worker named `workerName`. */
export function workerConnectionName(prefix: string, queueName: string, workerName: string): string {
  return `${prefix}:${Buffer.from(queueName).toString('base64')}:w:${workerName}`;
}

/**
 * Connections to the queue's Redis that carry the name of a Worker called
 * `workerName` (live workers, and half-open connections of dead hosts until
 * Redis drops them).
 */
export async function workerConnections(queue: Queue, workerName: string): Promise<number> {
  const wanted = workerConnectionName(queue.opts.prefix ?? 'bull', queue.name, workerName);
  const workers = await queue.getWorkers();
  return workers.filter((worker) => worker.rawname === wanted).length;
}

/** The token of whoever holds `jobId`'s lock now, or undefined when no lock is held. */
export async function lockHolder(redis: RedisClient, queue: Queue, jobId: string): Promise<string | undefined> {
  return (await redis.get(`${jobKey(queue, jobId)}:lock`)) ?? undefined;
}

/** Who took the job last and when, read afresh from Redis. */
export async function pickup(queue: Queue, jobId: string): Promise<{ processedBy?: string; processedOn?: number } | undefined> {
  const job: Job | undefined = await queue.getJob(jobId);
  if (!job) return undefined;
  return { ...(job.processedBy ? { processedBy: job.processedBy } : {}), ...(job.processedOn ? { processedOn: job.processedOn } : {}) };
}

/**
 * Puts an active job back at the head of the wait list on behalf of the lock
 * holder `token` (attemptsMade and the stalled counter unchanged). False when
 * the job changed hands since the token was read (the lock expired or another
 * worker took it): then it is not ours to move.
 */
export async function requeueHeldJob(job: Job, token: string): Promise<boolean> {
  try {
    await job.moveToWait(token);
    return true;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === ErrorCode.JobLockNotExist || code === ErrorCode.JobLockMismatch || code === ErrorCode.JobNotExist) return false;
    throw error;
  }
}

/**
 * Counts a reclaim as the stall it replaces (`job.stalledCounter` + 1), so an
 * event that kills its dispatcher every time still reaches the stall limit
 * and the failed set instead of a crash loop.
 */
export async function countAsStalled(redis: RedisClient, queue: Queue, jobId: string): Promise<void> {
  await redis.hincrby(jobKey(queue, jobId), 'stc', 1);
}
