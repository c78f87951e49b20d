/**
 * The contract of shared/queue/bullmq-internals.ts with the installed BullMQ and
 * ioredis: each thing the product takes from their internals, checked
 * against a real redis-server, so that an upgrade that changes one fails
 * here rather than as lost writes, a stuck ingester or events out of order.
 * Oracle: what Redis holds, read with plain commands.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, it } from 'node:test';
import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  BULLMQ_VERSION,
  COMMANDS_PER_JOB,
  addJobToTransaction,
  jobKey,
  loadScripts,
  progressWriter,
  promoteDelayedJob,
  queueClient,
} from '../../shared/queue/bullmq-internals.js';
import { EVENT_JOB_OPTIONS, QUEUE_NAME, queuePrefix } from '../../shared/queue/contract.js';
import { RedisServer } from '../helpers/redis-server.js';

// Compiled, this file is <repo>/dist/test/integration/.
const REPO_ROOT = new URL('../../../', import.meta.url);

let server: RedisServer;
let redis: Redis;
let queue: Queue;
before(async () => {
  server = await RedisServer.start();
  redis = server.client();
  queue = new Queue(QUEUE_NAME, { connection: redis, prefix: queuePrefix('contract') });
});
after(async () => {
  await queue.close();
  await server.stop();
});

const data = (n: number) => ({ event: 'create', streamId: `${n}-0`, body: `{"name":"Größe — 東京 😀 ${n}","q":"\\" \\\\"}`, receivedAt: n });
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

it('is pinned to the installed BullMQ, which package.json pins exactly', () => {
  const installed = JSON.parse(readFileSync(new URL('node_modules/bullmq/package.json', REPO_ROOT), 'utf8')) as { version: string };
  const manifest = JSON.parse(readFileSync(new URL('package.json', REPO_ROOT), 'utf8')) as { dependencies: Record<string, string> };
  assert.equal(installed.version, BULLMQ_VERSION, 'BullMQ was upgraded: check every item of shared/queue/bullmq-internals.ts, then update BULLMQ_VERSION');
  assert.equal(manifest.dependencies.bullmq, BULLMQ_VERSION);
});

it('queues COMMANDS_PER_JOB commands per job in a MULTI, and the job hash exists once they ran', async () => {
  const client = await queueClient(queue);
  const ids = ['multi-1', 'multi-2', 'multi-3'];
  for (const id of ids) assert.equal(await redis.exists(jobKey(queue, id)), 0);
  const transaction = client.multi();
  await Promise.all(ids.map((id, n) => addJobToTransaction(queue, transaction, { id, name: 'create', data: bytes(data(n)) }, EVENT_JOB_OPTIONS)));
  transaction.runCommand('ping', []);
  const results = await transaction.exec();
  assert.ok(results);
  assert.equal(results.length, ids.length * COMMANDS_PER_JOB + 1);
  assert.deepEqual(results.at(-1), [null, 'PONG']);
  assert.deepEqual(
    results.slice(0, -1).map(([error]) => error),
    ids.map(() => null),
  );
  for (const id of ids) assert.equal(await redis.exists(jobKey(queue, id)), 1, `the hash of ${id} at jobKey()`);
});

it('stores a Buffer of job data byte for byte as the JSON, which BullMQ reads back as the same data', async () => {
  const client = await queueClient(queue);
  const transaction = client.multi();
  await addJobToTransaction(queue, transaction, { id: 'bytes', name: 'create', data: bytes(data(7)) }, EVENT_JOB_OPTIONS);
  await transaction.exec();
  assert.equal(await redis.hget(jobKey(queue, 'bytes'), 'data'), JSON.stringify(data(7)));
  const job = await Job.fromId(queue, 'bytes');
  assert.deepEqual(job?.data, data(7));
  assert.equal(job?.name, 'create');
  assert.equal(await job?.getState(), 'waiting');
});

it('stores the job hash queue.add stores for the same job, without building a Job (timestamp aside)', async () => {
  // The same id in a queue of its own: BullMQ's own add is the oracle.
  const theirQueue = new Queue(`${QUEUE_NAME}-oracle`, { connection: redis, prefix: queuePrefix('contract') });
  try {
    const client = await queueClient(queue);
    const transaction = client.multi();
    const before = Date.now();
    await addJobToTransaction(queue, transaction, { id: 'same', name: 'update', data: bytes(data(9)) }, EVENT_JOB_OPTIONS);
    await transaction.exec();
    await theirQueue.add('update', data(9), { ...EVENT_JOB_OPTIONS, jobId: 'same' });
    const { timestamp: ours, ...oursRest } = await redis.hgetall(jobKey(queue, 'same'));
    const { timestamp: theirs, ...theirsRest } = await redis.hgetall(jobKey(theirQueue, 'same'));
    assert.ok(Number(ours) >= before && Number(ours) <= Number(theirs), `timestamp ${ours}, then BullMQ's ${theirs}`);
    assert.deepEqual(oursRest, theirsRest);
    assert.equal(await queue.getJobState('same'), 'waiting');
  } finally {
    await theirQueue.close();
  }
});

it('promotes a delayed job to wait by id, and rejects with a numeric code for a job that is not delayed', async () => {
  await queue.add('create', data(1), { jobId: 'parked', delay: 3_600_000 });
  assert.equal(await queue.getJobState('parked'), 'delayed');
  await promoteDelayedJob(queue, 'parked');
  assert.equal(await queue.getJobState('parked'), 'waiting');
  // dispatcher/delivery/entity-order.ts takes a numeric code for "nothing to wake".
  const again = await promoteDelayedJob(queue, 'parked').then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.equal(typeof (again as { code?: unknown } | undefined)?.code, 'number');
});

it('progressWriter stores a progress as Job.updateProgress does, which job.progress reads back, and never brings back a job that is gone', async () => {
  // dispatcher/delivery/pack-progress.ts writes a pack's settled events this way, without updateProgress' event-stream XADD.
  const write = progressWriter(redis, queue);
  await queue.add('pack', data(3), { jobId: 'progress-1' });
  await (await queue.getJob('progress-1'))!.updateProgress({ settled: 1, also: [3] });
  const storedByBullmq = await redis.hget(jobKey(queue, 'progress-1'), 'progress');
  assert.equal(await write('progress-1', { settled: 1, also: [3] }), true);
  assert.equal(await redis.hget(jobKey(queue, 'progress-1'), 'progress'), storedByBullmq, 'the same bytes as updateProgress');
  assert.equal(await write('progress-1', { settled: 2, also: [4] }), true);
  assert.deepEqual((await queue.getJob('progress-1'))!.progress, { settled: 2, also: [4] });
  await write('progress-1', 6);
  assert.equal((await queue.getJob('progress-1'))!.progress, 6);
  assert.equal(await write('gone', 1), false);
  assert.equal(await redis.exists(jobKey(queue, 'gone')), 0);
});

it('loadScripts finds the scripts BullMQ defined on the client and cures NOSCRIPT inside a MULTI', async () => {
  const client = await queueClient(queue);
  const add = async (id: string) => {
    const transaction = client.multi();
    await addJobToTransaction(queue, transaction, { id, name: 'create', data: bytes(data(2)) }, EVENT_JOB_OPTIONS);
    return (await transaction.exec())?.[0]?.[0];
  };
  assert.equal(await add('script-1'), null);
  await redis.script('FLUSH');
  const error = await add('script-2');
  assert.match(String(error), /^ReplyError: NOSCRIPT/, 'ioredis now falls back to EVAL inside a MULTI: the reload may be unneeded');
  await loadScripts(client);
  assert.equal(await add('script-3'), null);
});
