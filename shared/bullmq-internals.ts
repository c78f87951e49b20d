import { Job, type IRedisClient, type IRedisTransaction, type JobsOptions, type Queue } from 'bullmq';
import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './redis.js';

/**
 * Everything the product takes from BullMQ (and ioredis) beyond their
 * documented API, in one place, so that an upgrade has one file to check.
 * test/integration/bullmq-contract.test.ts pins each item below against the
 * installed versions and fails when one changes shape.
 */

/** The BullMQ release these internals were checked against (package.json pins it exactly). */
export const BULLMQ_VERSION = '6.7.0';

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
 * `Queue` no longer exposes it in 6.x; the backend does, as a Redis-only
 * escape hatch.
 */
export function queueClient(queue: Queue): Promise<IRedisClient> {
  return queue.getBackend().client;
}

export interface JobToAdd {
  id: string;
  name: string;
  data: unknown;
}

/**
 * Queues the insert of one job into a caller-owned MULTI. `addJobToTransaction`
 * is public on BullMQ's RedisQueueBackend but outside its documented API (it
 * exists for FlowProducer); BullMQ's own addBulk uses a plain pipeline, which
 * is not atomic. The data goes as a Buffer holding the same UTF-8 bytes as
 * the JSON string BullMQ would store: ioredis measures and copies a string
 * argument twice more, which was a third of the ingester's enqueue CPU.
 */
export function addJobToTransaction(queue: Queue, transaction: IRedisTransaction, job: JobToAdd, options: JobsOptions): Promise<string> {
  const json = new Job(queue, job.name, job.data, { ...options, jobId: job.id }, job.id).asJSON();
  const bytes = Buffer.from(json.data, 'utf8') as unknown as string;
  return queue.getBackend().addJobToTransaction(transaction, { ...json, data: bytes }, job.id);
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
