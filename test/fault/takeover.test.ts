/**
 * Fault suite, fast takeover with the product's defaults (lock 10 s, stalled
 * check every 2.5 s, restart reclaim by worker name): a dispatcher SIGKILLed
 * mid-delivery of a backlog, so packs are in flight. Its events must go out
 * again whether its own restart or another replica takes them over.
 *
 * Oracles: every event delivered (harness), and every event the dead
 * dispatcher held (read from Redis right after the kill: single jobs, and
 * packs from their progress on) answered 2xx within a bounded wait of 25 s
 * (scaled): with the former defaults (30 s lock and check) that wait runs
 * out. Duplicates are bounded by the events held. The takeover times are
 * printed, not asserted.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ManagedProcess } from '../helpers/processes.js';
import { heldEvents, type HeldEvents } from '../helpers/takeover.js';
import { describeReport, Pipeline } from './harness.js';

let pipeline: Pipeline | undefined;
afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
});

const EVENTS = 2_000;
/** Longer than the 15 s bound, far shorter than the former defaults' 31–72 s. */
const REDELIVERY_WAIT_MS = 25_000;

/** The fault harness with the product's takeover defaults: DISPATCHER_LOCK_DURATION_MS unset. */
async function startPipeline(): Promise<Pipeline> {
  // A live dispatcher must not time out on a slow receiver (30 s rather than 3): duplicates then come from the kill alone.
  const p = await Pipeline.start({ env: { CONNECTOR_CONSUMER_COUNT: '10', WEBHOOK_REQUEST_TIMEOUT_MS: '30000' } });
  delete p.env.DISPATCHER_LOCK_DURATION_MS;
  // 50 ms per request: 200 events/s per dispatcher, so the 2,000 events are a backlog, read in packs.
  p.bed.receiver.setFaults(() => ({ delayMs: 50 }));
  p.bed.emulator.publishMany(EVENTS);
  return p;
}

interface Kill {
  killedAt: number;
  held: HeldEvents;
  /** Held events not answered 2xx before the kill: they must go out again. */
  pending: string[];
}

async function killMidDelivery(p: Pipeline, victim: ManagedProcess): Promise<Kill> {
  const { receiver } = p.bed;
  await receiver.waitForCount(300, 60_000);
  await p.kill(victim);
  const killedAt = Date.now();
  const held = await heldEvents(p.queue);
  const delivered = receiver.deliveredIds();
  const pending = held.ids.filter((id) => !delivered.has(id));
  assert.ok(held.packs > 0, `no pack in flight at the kill (${held.jobs} active jobs): the scenario needs a backlog`);
  return { killedAt, held, pending };
}

async function redelivered(p: Pipeline, kill: Kill): Promise<number> {
  await p.bed.receiver.waitForIds(kill.pending, REDELIVERY_WAIT_MS);
  return Date.now() - kill.killedAt;
}

function describeKill(kill: Kill, resumedMs: number): string {
  return `held ${kill.held.ids.length} events (${kill.held.jobs} jobs, ${kill.held.packs} packs), ${kill.pending.length} out again ${(resumedMs / 1000).toFixed(2)} s after the SIGKILL`;
}

describe('fast takeover', () => {
  it('a SIGKILLed dispatcher restarted: the restart puts back what it held', async (t) => {
    const p = (pipeline = await startPipeline());
    await p.spawn('ingester');
    const victim = await p.spawn('dispatcher');
    const kill = await killMidDelivery(p, victim);
    const restarted = await p.spawn('dispatcher');
    const startedMs = Date.now() - kill.killedAt;
    const resumedMs = await redelivered(p, kill);
    const report = await p.expectAllDelivered();
    const reclaimed = restarted.logs.find((line) => line.msg === 'worker.reclaimed');
    t.diagnostic(
      `${describeKill(kill, resumedMs)}; the restart was up after ${(startedMs / 1000).toFixed(2)} s and reclaimed ${String(reclaimed?.jobs ?? 0)} jobs; ${describeReport(report)}`,
    );
    assert.ok(report.duplicated <= kill.held.ids.length, `${report.duplicated} duplicates for ${kill.held.ids.length} events held`);
  });

  it('a SIGKILLed dispatcher not restarted: another replica takes over what it held', async (t) => {
    const p = (pipeline = await startPipeline());
    await p.spawn('ingester');
    const victim = await p.spawn('dispatcher', { DISPATCHER_WORKER_NAME: 'replica-a' });
    await p.spawn('dispatcher', { DISPATCHER_WORKER_NAME: 'replica-b' });
    const kill = await killMidDelivery(p, victim);
    const resumedMs = await redelivered(p, kill);
    const report = await p.expectAllDelivered();
    t.diagnostic(`${describeKill(kill, resumedMs)}; ${describeReport(report)}`);
    assert.ok(report.duplicated <= kill.held.ids.length, `${report.duplicated} duplicates for ${kill.held.ids.length} events held`);
  });
});
