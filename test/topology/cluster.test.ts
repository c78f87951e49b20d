/**
 * Topology suite, Redis Cluster: 3 masters and 3 replicas started by the
 * test; the whole pipeline runs on it with only REDIS_MODE=cluster and a seed
 * node in REDIS_URL; then the master serving the connector's slot is
 * SIGKILLed mid-run, its replica is promoted, and every event still arrives.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { queuePrefix } from '../../shared/queue/contract.js';
import { describeReport, Pipeline } from '../fault/harness.js';
import { RedisCluster } from '../helpers/redis-cluster.js';
import { dumpOnFailure, startTopologyBed, warnings, type TopologyBed } from './bed.js';

describe('Redis Cluster', () => {
  let cluster: RedisCluster;
  let bed: TopologyBed;
  before(async () => {
    cluster = await RedisCluster.start({ masters: 3, nodeTimeoutMs: 2_000 });
    bed = await startTopologyBed({ REDIS_MODE: 'cluster', REDIS_URL: `redis://127.0.0.1:${cluster.nodes[0]!.port}` }, () => cluster.stop());
  });
  after(() => bed?.close() ?? cluster?.stop());

  it('delivers every event, and keeps going when the master of the connector slot is SIGKILLed and its replica promoted', async (t) => {
    // The rate limiter's and the outage breaker's Lua scripts run on the cluster too: a
    // generous limit, and an endpoint down for its first 40 requests (threshold 10 in a row, per dispatcher).
    const p = Pipeline.on(bed, bed.client, { WEBHOOK_RATE_LIMIT_PER_SECOND: '2000' });
    const slotKey = `${queuePrefix(p.env.CONNECTOR_ID!)}:events:id`;
    const { receiver } = bed;
    receiver.setFaults((request) => (request.index < 40 ? { status: 503 } : { delayMs: 2 }));
    const ingester = await p.spawn('ingester');
    const dispatchers = [await p.spawn('dispatcher'), await p.spawn('dispatcher')];
    let killedAt = 0;
    let promotedAt = 0;
    let resumedAt = 0;
    let killedPort = 0;
    // 300 events/s for 10 s: the kill lands while frames are still coming.
    await dumpOnFailure([ingester, ...dispatchers], () => p.publishDuring(3_000, 3, async () => {
      await receiver.waitForCount(600, 60_000);
      const master = await cluster.masterOf(slotKey);
      killedPort = master.port;
      killedAt = Date.now();
      await master.kill('SIGKILL');
      const promoted = await cluster.waitForFailover(slotKey, master);
      promotedAt = Date.now();
      assert.notEqual(promoted.port, killedPort);
      const deliveredAtPromotion = receiver.delivered().length;
      await receiver.waitForCount(deliveredAtPromotion + 100, 60_000);
      resumedAt = Date.now();
    }));
    const report = await dumpOnFailure([ingester, ...dispatchers], () => p.expectAllDelivered({ timeoutMs: 120_000 }));
    t.diagnostic(
      `master :${killedPort} SIGKILLed; replica promoted after ${promotedAt - killedAt} ms; deliveries flowing again ${resumedAt - killedAt} ms after the kill; ${describeReport(report)}; warnings: ${warnings([ingester, ...dispatchers])}`,
    );
    assert.ok(ingester.logs.some((line) => line.msg === 'ingester.configured' && (line.redis as { mode?: string }).mode === 'cluster'));
    assert.ok(dispatchers.some((child) => child.logs.some((line) => line.msg === 'endpoint.resumed')), 'the outage breaker never paused and resumed');
  });
});
