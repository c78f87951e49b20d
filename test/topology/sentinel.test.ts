/**
 * Topology suite, Sentinel: a master, a replica and 3 sentinels (quorum 2)
 * started by the test; the pipeline finds the master through the sentinels
 * (REDIS_MODE=sentinel), the master is SIGKILLed mid-run, the sentinels
 * promote the replica, the processes follow, and every event arrives.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { describeReport, Pipeline } from '../fault/harness.js';
import { MASTER_NAME, RedisSentinels } from '../helpers/redis-sentinel.js';
import { dumpOnFailure, startTopologyBed, warnings, type TopologyBed } from './bed.js';

describe('Redis Sentinel', () => {
  let setup: RedisSentinels;
  let bed: TopologyBed;
  before(async () => {
    setup = await RedisSentinels.start({ replicas: 1, sentinels: 3, quorum: 2, downAfterMs: 1_000 });
    bed = await startTopologyBed(
      {
        REDIS_MODE: 'sentinel',
        REDIS_SENTINELS: setup.sentinelList,
        REDIS_SENTINEL_MASTER: MASTER_NAME,
        // Only the scheme and database count in sentinel mode; nothing listens on port 9, so a
        // process that used this address instead of asking the sentinels would never deliver.
        REDIS_URL: 'redis://127.0.0.1:9/0',
      },
      () => setup.stop(),
    );
  });
  after(() => bed?.close() ?? setup?.stop());

  it('delivers every event, and follows the sentinels when the master is SIGKILLed and the replica promoted', async (t) => {
    const p = Pipeline.on(bed, bed.client);
    const { receiver } = bed;
    receiver.setFaults(() => ({ delayMs: 2 }));
    const ingester = await p.spawn('ingester');
    const dispatchers = [await p.spawn('dispatcher'), await p.spawn('dispatcher')];
    const master = await setup.master();
    let killedAt = 0;
    let promotedAt = 0;
    let resumedAt = 0;
    await dumpOnFailure([ingester, ...dispatchers], () => p.publishDuring(3_000, 3, async () => {
      await receiver.waitForCount(600, 60_000);
      killedAt = Date.now();
      await master.kill('SIGKILL');
      const promoted = await setup.waitForFailover(master);
      promotedAt = Date.now();
      assert.notEqual(promoted.port, master.port);
      const deliveredAtPromotion = receiver.delivered().length;
      await receiver.waitForCount(deliveredAtPromotion + 100, 60_000);
      resumedAt = Date.now();
    }));
    const report = await dumpOnFailure([ingester, ...dispatchers], () => p.expectAllDelivered({ timeoutMs: 120_000 }));
    t.diagnostic(
      `master :${master.port} SIGKILLed; sentinels promoted the replica after ${promotedAt - killedAt} ms; deliveries flowing again ${resumedAt - killedAt} ms after the kill; ${describeReport(report)}; warnings: ${warnings([ingester, ...dispatchers])}`,
    );
    for (const child of [ingester, ...dispatchers]) {
      assert.ok(child.logs.some((line) => line.msg === 'redis.unavailable'), `${child.kind} did not notice the master's death`);
      assert.ok(child.logs.some((line) => line.msg === 'redis.recovered'), `${child.kind} did not reach the new master`);
    }
  });
});
