/**
 * The endpoint breaker against a throwaway redis-server and a real BullMQ
 * queue: it never resumes a queue an operator paused, and its state gauge
 * disappears rather than go stale while the shared state cannot be read.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { EndpointBreaker } from '../../dispatcher/endpoint/breaker.js';
import { DispatcherMetricFamilies } from '../../dispatcher/metrics.js';
import { createLogger } from '../../shared/observability/logger.js';
import { QUEUE_NAME, destinationKeys, queuePrefix } from '../../shared/queue/contract.js';
import { RedisServer, redisCommand } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const logger = createLogger('test', 'error');
let server: RedisServer;
before(async () => {
  server = await RedisServer.start();
});
after(() => server.stop());

function setUp(connectorId: string, probeInitialMs = 100) {
  const redis = server.client({ maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE_NAME, { connection: redis, prefix: queuePrefix(connectorId) });
  const metrics = new DispatcherMetricFamilies(connectorId).destination('default', queue);
  const breaker = new EndpointBreaker(
    { redis, queue, key: destinationKeys(connectorId, 'default').endpoint, operatorPauseKey: destinationKeys(connectorId, 'default').operatorPause, logger, onObserved: (state) => metrics.endpointState(state) },
    { failureThreshold: 1, probeInitialMs, probeMaxMs: 2 * probeInitialMs, pollMs: 50 },
  );
  const gauge = async () => (await metrics.registry.getSingleMetric('opencti_webhook_endpoint_state')!.get()).values.filter((v) => v.value === 1).map((v) => v.labels.state);
  return { redis, queue, breaker, gauge };
}

describe('endpoint breaker', () => {
  it('never resumes, probes or sets the concurrency of a queue an operator paused, and leaves it to them after the outage', async () => {
    const { redis, queue, breaker } = setUp('operator-pause', 1_000);
    breaker.start();
    try {
      breaker.recordFailure('HTTP 503', 0, true);
      await waitFor(() => queue.isPaused(), { timeoutMs: 5_000, what: 'the breaker to pause the queue' });
      // The operator pauses too (the board records it before pausing).
      await redis.set(destinationKeys('operator-pause', 'default').operatorPause, 'board:alice');
      await queue.pause();
      // A probe is due 1 s after the trip: none may resume the queue.
      await waitFor(async () => (await redis.hget(destinationKeys('operator-pause', 'default').endpoint, 'probeAt')) !== null && Number(await redis.hget(destinationKeys('operator-pause', 'default').endpoint, 'probeAt')) < Date.now() - 500, {
        timeoutMs: 5_000,
        what: 'a probe overdue by 500 ms',
      });
      assert.equal(await queue.isPaused(), true, 'a probe resumed the queue the operator paused');
      assert.equal(await redis.hget(destinationKeys('operator-pause', 'default').endpoint, 'state'), 'open', 'probed while the operator holds the queue');
      assert.equal(await queue.getGlobalConcurrency(), null);

      // The endpoint answers (another replica's event): the outage ends, the operator's pause stays.
      breaker.recordSuccess();
      await waitFor(async () => (await redis.exists(destinationKeys('operator-pause', 'default').endpoint)) === 0 || undefined, { timeoutMs: 5_000, what: 'the outage to end' });
      assert.equal(breaker.state, 'delivering');
      assert.equal(await queue.isPaused(), true, 'the end of the outage resumed the queue the operator paused');
      assert.equal(await queue.getGlobalConcurrency(), null);

      await redis.del(destinationKeys('operator-pause', 'default').operatorPause);
      await queue.resume();
      assert.equal(await queue.isPaused(), false);
    } finally {
      await breaker.stop();
      await queue.close();
    }
  });

  it('still ends its own pause when no operator holds the queue', async () => {
    const { queue, breaker } = setUp('own-pause');
    breaker.start();
    try {
      breaker.recordFailure('HTTP 503', 0, true);
      await waitFor(() => queue.isPaused(), { timeoutMs: 5_000, what: 'the breaker to pause the queue' });
      await waitFor(() => breaker.state === 'probing' || undefined, { timeoutMs: 5_000, what: 'a probe' });
      assert.equal(await queue.getGlobalConcurrency(), 1);
      breaker.recordSuccess();
      await waitFor(async () => ((await queue.isPaused()) ? undefined : true), { timeoutMs: 5_000, what: 'the queue resumed' });
      await waitFor(async () => ((await queue.getGlobalConcurrency()) === null ? true : undefined), { timeoutMs: 5_000, what: 'the global concurrency removed' });
    } finally {
      await breaker.stop();
      await queue.close();
    }
  });

  it('reports no state, rather than a stale one, while the shared state cannot be read', async () => {
    const { breaker, queue, gauge } = setUp('unreadable');
    breaker.start();
    try {
      breaker.recordFailure('HTTP 503', 0, true);
      await waitFor(async () => ((await gauge()).join() === 'paused' ? true : undefined), { timeoutMs: 5_000, what: 'the gauge at paused' });
      // Redis refuses the breaker's key (NOPERM): every read of the shared state fails.
      await redisCommand(server.port, ['ACL', 'SETUSER', 'default', 'resetkeys', '~*:events:*']);
      try {
        await waitFor(async () => ((await gauge()).length === 0 ? true : undefined), { timeoutMs: 5_000, what: 'the gauge reset' });
      } finally {
        await redisCommand(server.port, ['ACL', 'SETUSER', 'default', 'resetkeys', '~*']);
      }
      await waitFor(async () => ((await gauge()).length === 1 ? true : undefined), { timeoutMs: 5_000, what: 'the gauge back once the state is readable' });
    } finally {
      await breaker.stop();
      await queue.close();
    }
  });
});
