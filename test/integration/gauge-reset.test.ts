/**
 * Gauges read from Redis show nothing, rather than their last value, once
 * Redis cannot be read. Real redis-server (killed mid-test), real BullMQ
 * queue, the product's metrics registries; clients that fail at once while
 * Redis is down (no offline queue), as after a reconnect gives up.
 * Oracle: the Prometheus text of each registry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DispatcherMetricFamilies } from '../../dispatcher/metrics.js';
import { IngesterMetrics } from '../../ingester/metrics.js';
import { QueueDepthGate } from '../../ingester/backpressure/queue-depth-gate.js';
import { readRedisMemory } from '../../ingester/backpressure/redis-memory.js';
import { createLogger } from '../../shared/observability/logger.js';
import { QUEUE_NAME, queuePrefix } from '../../shared/queue/contract.js';
import { RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const series = (text: string, name: string) => text.split('\n').filter((line) => line.startsWith(name));

describe('gauges read from Redis', () => {
  let redis: RedisServer;
  let client: Redis;
  let queue: Queue;
  before(async () => {
    redis = await RedisServer.start({ args: ['--maxmemory', '64mb'] });
    client = redis.client({ enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    queue = new Queue(QUEUE_NAME, { connection: client, prefix: queuePrefix('gauge-reset') });
    await queue.addBulk([1, 2, 3].map((n) => ({ name: 'create', data: { n } })));
  });
  after(async () => {
    await queue?.close().catch(() => undefined);
    await redis?.stop();
  });

  it('show nothing, not their last value, while Redis cannot be read', async () => {
    const dispatcher = new DispatcherMetricFamilies('Webhook').destination('default', queue);
    const ingester = new IngesterMetrics('Webhook', () => 0, ['default']);
    const gate = new QueueDepthGate(
      {
        queue,
        reader: { admitted: 0, admittedChars: 0, backlog: 0 },
        jobSizes: { eventsInNewest: (jobs) => jobs },
        memory: () => readRedisMemory(client),
        logger: createLogger('test', 'error'),
        observer: { paused: (paused) => ingester.backpressure(paused), memoryRatio: (ratio) => ingester.redisMemoryRatio(ratio) },
      },
      { highWaterMark: 2, lowWaterMark: 1, checkIntervalMs: 20 },
    );
    const room = gate.waitForRoom();
    await waitFor(() => gate.closed, { timeoutMs: 5_000, what: 'the gate to close on 3 queued events' });
    assert.deepEqual(series(await dispatcher.registry.metrics(), 'opencti_webhook_queue_jobs{state="waiting",destination="default"}'), ['opencti_webhook_queue_jobs{state="waiting",destination="default"} 3']);
    const up = await ingester.registry.metrics();
    assert.deepEqual(series(up, 'opencti_webhook_ingester_paused'), ['opencti_webhook_ingester_paused 1']);
    assert.equal(series(up, 'opencti_webhook_redis_memory_used_ratio').length, 1);

    await redis.kill();
    const down = await waitFor(
      async () => {
        const text = await ingester.registry.metrics();
        return series(text, 'opencti_webhook_ingester_paused').length === 0 ? text : undefined;
      },
      { timeoutMs: 5_000, what: 'the paused gauge to be reset' },
    );
    assert.deepEqual(series(down, 'opencti_webhook_redis_memory_used_ratio'), []);
    assert.deepEqual(series(await dispatcher.registry.metrics(), 'opencti_webhook_queue_jobs'), []);
    assert.equal(gate.closed, true, 'reading resumed without knowing the depth');

    // Back without its data (no persistence): the queue is empty, so reading resumes and says so.
    await redis.restart();
    await room;
    assert.deepEqual(series(await ingester.registry.metrics(), 'opencti_webhook_ingester_paused'), ['opencti_webhook_ingester_paused 0']);
  });
});
