/**
 * Fault suite, process and infrastructure crashes: SIGKILL of the ingester,
 * of dispatchers and of both, repeatedly; SIGKILL and restart of Redis (AOF,
 * fsync every second, so Redis itself may lose its last second of writes).
 * Harness and oracles: see harness.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { startTestBed } from '../helpers/test-bed.js';
import { describeReport, Pipeline } from './harness.js';

let pipeline: Pipeline | undefined;
afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
});

describe('crash faults', () => {
  it('SIGKILL of the ingester, of a dispatcher and of both, several times in one run', async (t) => {
    const p = (pipeline = await Pipeline.start());
    const { receiver } = p.bed;
    receiver.setFaults(() => ({ delayMs: 5 }));
    await p.spawn('ingester');
    await p.spawn('dispatcher');
    await p.spawn('dispatcher');
    let kills = 0;
    // 300 events/s for 13 s: the kills land while frames are still coming (unless the machine is slow).
    await p.publishDuring(4_000, 3, async ({ more }) => {
      for (const victims of [['ingester'], ['dispatcher'], ['ingester', 'dispatcher'], ['dispatcher'], ['ingester', 'dispatcher']] as const) {
        await more(150);
        for (const kind of victims) {
          await p.kill(p.running(kind)[0]!);
          kills += 1;
        }
        for (const kind of victims) await p.spawn(kind);
      }
    }, (i) => ({ dependencies: i % 4 === 0 ? 2 : 0 }));
    const report = await p.expectAllDelivered();
    t.diagnostic(`${kills} SIGKILLs: ${describeReport(report)}`);
    // Only events in flight at a dispatcher's death may arrive twice: 20 per kill at most.
    assert.ok(report.duplicated <= 20 * kills, `${report.duplicated} duplicates`);
  });

  it('SIGKILL and restart of Redis loses nothing; both processes stay up and resume', async (t) => {
    const p = (pipeline = await Pipeline.start());
    const { redis } = p.bed;
    const ingester = await p.spawn('ingester');
    const dispatcher = await p.spawn('dispatcher');
    let downAt = 0;
    let upAt = 0;
    await p.publishDuring(3_000, 20, async ({ more }) => {
      for (let round = 0; round < 2; round += 1) {
        await more(500);
        downAt = Date.now();
        await redis.kill('SIGKILL');
        await new Promise((resolve) => setTimeout(resolve, 1_500)); // Redis stays down for a while: a fault window
        await redis.restart();
        upAt = Date.now();
      }
    });
    const report = await p.expectAllDelivered();
    report.recoverMs = Date.now() - upAt;
    t.diagnostic(`2 Redis SIGKILLs (down ${upAt - downAt} ms each): ${describeReport(report)}`);
    for (const child of [ingester, dispatcher]) {
      assert.ok(child.logs.some((line) => line.msg === 'redis.unavailable'), `${child.kind} did not notice`);
      assert.ok(child.logs.some((line) => line.msg === 'redis.recovered'), `${child.kind} did not recover`);
    }
  });

  it('Redis restarted without persistence: the ingester rewinds once to the configured start, without rewinding back and forth', async (t) => {
    const bed = await startTestBed({ redis: { appendonly: false }, emulator: { heartbeatIntervalMs: 200 } });
    const p = (pipeline = Pipeline.on(bed, { url: bed.redis.url, maxRetriesPerRequest: null }));
    const ingester = await p.spawn('ingester');
    await p.spawn('dispatcher');
    await p.publishDuring(2_000, 10, async () => {
      await bed.receiver.waitForCount(500, 60_000);
      await bed.redis.kill('SIGKILL');
      await bed.redis.restart();
    });
    const report = await p.expectAllDelivered();
    const rewinds = ingester.logs.filter((line) => String(line.msg).startsWith('position.lost_writes')).length;
    t.diagnostic(`${rewinds} rewind(s): ${describeReport(report)}`);
    assert.ok(rewinds >= 1 && rewinds <= 3, `${rewinds} lost-writes rewinds`);
  });
});

