/**
 * No gap, ever: a commit whose job inserts fail inside the EXEC (NOSCRIPT:
 * Redis forgot BullMQ's scripts under a live connection, as after a SCRIPT
 * FLUSH, a failover behind a proxy or a restart without persistence), by an
 * ingester that then dies before its retry. MULTI does not roll back, so the
 * cursor write in the same EXEC went through regardless, and the next leader
 * resumed past events that were never queued.
 * Doubles: the OpenCTI stream emulator, a throwaway redis-server, and a
 * command-aware relay between the first ingester and Redis that runs SCRIPT
 * FLUSH right before that commit's EXEC, then lets nothing more from that
 * ingester through (as if it died at once) until it is SIGKILLed. The second
 * ingester is a real process on Redis directly.
 * Oracles: the cursor in Redis against the queue (never past an event not
 * queued), then every frame the emulator wrote queued exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUE_NAME, cursorKey, queuePrefix, type EventJob } from '../../shared/queue/contract.js';
import { compareStreamIds } from '../../shared/opencti/stream-id.js';
import { pipelineEnv } from '../helpers/factories.js';
import { expectedDeliveries } from '../helpers/oracle.js';
import { queuedEvents } from '../helpers/queued-events.js';
import { startProcess, stopAll } from '../helpers/processes.js';
import { RedisCommandRelay } from '../helpers/redis-command-relay.js';
import { RedisServer } from '../helpers/redis-server.js';
import { StreamEmulator } from '../helpers/stream-emulator.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

let redis: RedisServer;
let client: Redis;
before(async () => {
  redis = await RedisServer.start();
  client = redis.client();
});
after(async () => {
  await stopAll();
  await redis?.stop();
});

it('a commit that hit NOSCRIPT, by an ingester that died before its retry, leaves no event unqueued', async () => {
  const emulator = await StreamEmulator.start({ heartbeatIntervalMs: 100 });
  const relay = await RedisCommandRelay.start(redis.port);
  const env = pipelineEnv({ redisUrl: relay.url, openctiUrl: emulator.url, webhookUrl: 'http://127.0.0.1:9' });
  const connector = env.CONNECTOR_ID!;
  const queue = new Queue<EventJob>(QUEUE_NAME, { connection: { url: redis.url }, prefix: queuePrefix(connector) });
  const queued = async () => await queuedEvents(queue, ['waiting']);
  try {
    const first = await startProcess('ingester', env);
    await first.waitForLog((line) => line.msg === 'stream.connected', 10_000, 'stream.connected');
    // A first commit, so that the connection has sent BullMQ's script text
    // once and the faulty commit's inserts all go as EVALSHA.
    emulator.publishMany(50);
    await waitFor(async () => (await queued()).length === 50, { timeoutMs: 20_000, what: 'the first 50 events queued' });

    // The next commit that inserts jobs and writes the cursor.
    const faulted = relay.failTransaction(
      (commands) => commands.some(([name]) => name === 'evalsha') && commands.some((args) => args.includes(cursorKey(connector))),
      async () => void (await client.script('FLUSH')),
    );
    emulator.publishMany(100);
    await withTimeout(faulted, 20_000, 'the faulted commit to be answered');
    await first.kill('SIGKILL');

    // The position Redis holds covers only queued events.
    const stored = await client.hget(cursorKey(connector), 'resumeFrom');
    const ids = new Set((await queued()).map(({ data }) => data.streamId));
    const passed = emulator.sentFrames().filter((frame) => compareStreamIds(frame.id, stored ?? '0-0') <= 0);
    const skipped = passed.filter((frame) => !ids.has(frame.id));
    assert.equal(skipped.length, 0, `the cursor (${stored}) passed ${skipped.length} events that are not queued`);

    const second = await startProcess('ingester', { ...env, REDIS_URL: redis.url });
    await second.waitForLog((line) => line.msg === 'stream.connected', 15_000, 'stream.connected');
    const expected = expectedDeliveries(emulator.sentFrames());
    assert.equal(expected.size, 150);
    await waitFor(async () => (await queued()).length >= expected.size, { timeoutMs: 20_000, what: 'every event queued after the restart' });
    await second.kill('SIGTERM');

    const events = await queued();
    assert.equal(new Set(events.map(({ id }) => id)).size, events.length, 'an event is in two jobs');
    const enqueued = new Set(events.map(({ data }) => `${data.streamId}\n${data.event}\n${data.body}`));
    const missing = [...expected.keys()].filter((key) => !enqueued.has(key));
    assert.equal(missing.length, 0, `gap: ${missing.length} events never queued`);
    assert.equal(events.length, expected.size);
  } finally {
    await queue.close();
    await relay.close();
    await emulator.close();
  }
});
