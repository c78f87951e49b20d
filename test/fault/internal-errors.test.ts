/**
 * Fault suite, our own failures: Redis frozen, then refusing the commands of
 * one of the dispatcher's own operations, while events flow. The endpoint
 * never fails, so no event may be charged an attempt: every job completes
 * with attemptsMade 1 (the completing attempt) and nothing reaches the failed set.
 * Harness and oracles: see harness.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { describeReport, Pipeline } from './harness.js';
import { redisCommand } from '../helpers/redis-server.js';
import { queuePrefix } from '../../shared/queue/contract.js';
import { eventsOf } from '../helpers/queued-events.js';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';

let pipeline: Pipeline | undefined;
afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function metricsEnv(): Promise<{ env: Record<string, string>; port: number }> {
  const port = await freePort();
  return { env: { METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1', METRICS_PORT: String(port) }, port };
}

/** The dispatcher's count of internal errors for `operation`, and of charged retries. */
async function counts(port: number, operation: string): Promise<string> {
  const text = await scrapeMetrics(port);
  const internal = metricValue(text, `opencti_webhook_internal_errors_total{operation="${operation}"}`);
  return `${internal} postponed for internal errors (${operation}), ${metricValue(text, 'opencti_webhook_delivery_retries_total')} retries charged`;
}

describe('internal errors', () => {
  it('Redis frozen, then refusing the rate limit\'s commands, with 1,000 events flowing: everything delivered, no attempt charged', async (t) => {
    // A rate limit far above the flow: its Redis schedule is consulted before every request.
    const p = (pipeline = await Pipeline.start({ env: { WEBHOOK_RATE_LIMIT_PER_SECOND: '10000' } }));
    const { receiver, redis } = p.bed;
    await p.spawn('ingester');
    const metrics = await metricsEnv();
    const dispatcher = await p.spawn('dispatcher', metrics.env);
    const prefix = queuePrefix(p.env.CONNECTOR_ID!);
    await p.publishDuring(1_000, 5, async () => {
      await receiver.waitForCount(200, 30_000);
      // Frozen: commands wait (fault windows, not waits for a condition).
      process.kill(redis.pid!, 'SIGSTOP');
      await sleep(3_000);
      process.kill(redis.pid!, 'SIGCONT');
      await receiver.waitForCount(500, 60_000);
      // Errors returned by Redis: every key of the connector but the rate limit's (NOPERM).
      await redisCommand(redis.port, ['ACL', 'SETUSER', 'default', 'resetkeys', `~${prefix}:[^r]*`]);
      await sleep(3_000);
      await redisCommand(redis.port, ['ACL', 'SETUSER', 'default', 'resetkeys', '~*']);
    });
    const report = await p.expectAllDelivered({ failedAllowed: 0 });
    const completed = await p.queue.getCompleted(0, -1);
    // BullMQ counts the completing attempt too: 1 is a job never charged for a failure.
    const charged = completed.filter((job) => job.attemptsMade !== 1);
    const events = completed.flatMap(eventsOf).length;
    const internalErrors = dispatcher.logs.filter((l) => String(l.msg).startsWith('delivery.internal_error'));
    const operations = [...new Set(internalErrors.map((l) => `${String(l.operation)}/${String(l.code)}`))];
    t.diagnostic(
      `${describeReport(report)}; ${completed.length} completed jobs holding ${events} events, ${charged.length} charged; ${await counts(metrics.port, 'rate_limit')}; warnings ${operations.join(', ')}`,
    );
    assert.deepEqual(
      charged.map((job) => `${job.id}: ${job.attemptsMade}`),
      [],
      'attempts charged although the endpoint never failed',
    );
    assert.ok(internalErrors.some((l) => l.operation === 'rate_limit'), 'the fault was not injected');
  });

  it('Redis refusing the per-entity ordering claim (WEBHOOK_ORDERING=entity) with 1,000 events flowing: everything delivered, no attempt charged', async (t) => {
    const p = (pipeline = await Pipeline.start({ env: { WEBHOOK_ORDERING: 'entity' } }));
    const { receiver, redis } = p.bed;
    const prefix = queuePrefix(p.env.CONNECTOR_ID!);
    // The dispatcher's own Redis user, so that only its commands are refused (the ingester lines events up meanwhile).
    await redisCommand(redis.port, ['ACL', 'SETUSER', 'dispatcher', 'on', '>dispatcher-secret', '~*', '&*', '+@all']);
    await p.spawn('ingester');
    const metrics = await metricsEnv();
    const dispatcher = await p.spawn('dispatcher', { REDIS_USERNAME: 'dispatcher', REDIS_PASSWORD: 'dispatcher-secret', ...metrics.env });
    await p.publishDuring(1_000, 5, async () => {
      await receiver.waitForCount(300, 30_000);
      // Every key of the connector but the entity lines (`order:<id>`; `ordering` and `operator-pause` too): the claim is refused (NOPERM).
      await redisCommand(redis.port, ['ACL', 'SETUSER', 'dispatcher', 'resetkeys', `~${prefix}:[^o]*`]);
      await sleep(3_000); // the fault window
      await redisCommand(redis.port, ['ACL', 'SETUSER', 'dispatcher', 'resetkeys', '~*']);
    });
    const report = await p.expectAllDelivered({ failedAllowed: 0 });
    const completed = await p.queue.getCompleted(0, -1);
    const charged = completed.filter((job) => job.attemptsMade !== 1);
    const internalErrors = dispatcher.logs.filter((l) => String(l.msg).startsWith('delivery.internal_error'));
    t.diagnostic(`${describeReport(report)}; ${completed.length} completed jobs, ${charged.length} charged; ${await counts(metrics.port, 'entity_order')}`);
    assert.deepEqual(
      charged.map((job) => `${job.id}: ${job.attemptsMade}`),
      [],
      'attempts charged although the endpoint never failed',
    );
    assert.ok(internalErrors.some((l) => l.operation === 'entity_order'), 'the fault was not injected');
  });
});
