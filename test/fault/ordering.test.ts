/**
 * Fault suite, per-entity ordering (WEBHOOK_ORDERING=entity): many objects
 * with interleaved create/update/delete events, 3 dispatcher processes with
 * 50 concurrent deliveries each, a receiver answering after random delays and
 * now and then with a 500 (retried). Oracles: every event delivered (harness),
 * and no object ever got an event before the endpoint had acknowledged the
 * object's previous one (entity-order-oracle.ts). The same scenario without
 * ordering shows that the oracle sees disorder when there is some, and that
 * the default mode leaves no trace of ordering in Redis.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it, type TestContext } from 'node:test';
import { describeReport, Pipeline } from './harness.js';
import { checkEntityOrder } from '../helpers/entity-order-oracle.js';
import { createRng } from '../helpers/stix-fixtures.js';
import type { PublishSpec } from '../helpers/stream-emulator.js';
import { waitFor } from '../helpers/wait.js';

let pipeline: Pipeline | undefined;
afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
});

const OBJECTS = 200;
const EVENTS = OBJECTS * 10;

/** One create in ten (200 objects); updates of random live objects; the last tenth deletes random live objects. */
function interleaved(i: number): PublishSpec {
  if (i % 10 === 0) return { event: 'create' };
  return { event: i >= EVENTS - OBJECTS ? 'delete' : 'update' };
}

async function run(t: TestContext, ordering: 'entity' | 'none', fault: (p: Pipeline) => Promise<void> = async () => undefined): Promise<Pipeline> {
  pipeline = await Pipeline.start({ env: { WEBHOOK_ORDERING: ordering, CONNECTOR_CONSUMER_COUNT: '50' } });
  const p = pipeline;
  const rng = createRng('ordering-fault', ordering);
  p.bed.receiver.setFaults(() => ({ delayMs: Math.floor(rng() * 40), status: rng() < 0.05 ? 500 : 200 }));
  await p.spawn('ingester');
  for (let i = 0; i < 3; i += 1) await p.spawn('dispatcher');
  t.diagnostic(`connector ${p.env.CONNECTOR_ID}, WEBHOOK_ORDERING=${ordering}`);
  await p.publishDuring(EVENTS, 100, () => fault(p), interleaved);
  const report = await p.expectAllDelivered({ timeoutMs: 180_000 });
  // Duplicates come from deliveries taken over after a missed lock renewal (2 s locks on a busy machine).
  const stalled = p.running('dispatcher').flatMap((d) => d.logs).filter((l) => l.msg === 'delivery.stalled').length;
  t.diagnostic(`${describeReport(report)}, stalled deliveries taken over ${stalled}`);
  return p;
}

async function orderKeys(p: Pipeline): Promise<string[]> {
  const redis = p.bed.redis.client();
  try {
    return await redis.keys(`opencti-webhook:{${p.env.CONNECTOR_ID}}:order:*`);
  } finally {
    redis.disconnect();
  }
}

describe('per-entity ordering', () => {
  it('interleaved objects, 3 dispatchers × 50, random delays and 500s: every object gets its events in stream order, and all arrive', async (t) => {
    const p = await run(t, 'entity');
    const { receiver, emulator } = p.bed;
    assert.ok(receiver.requests.some((r) => r.status === 500), 'the 500s were not injected');
    assert.ok(receiver.peakInFlight > 20, `only ${receiver.peakInFlight} requests were ever in flight at once: no parallelism to speak of`);
    const order = checkEntityOrder(emulator.mainFrames(), receiver.requests);
    t.diagnostic(`${order.entities} objects, ${order.constrained} events behind an earlier one of their object, ${order.violations.length} out of order, peak in flight ${receiver.peakInFlight}`);
    assert.deepEqual(order.violations.slice(0, 10), [], `${order.violations.length} events out of order`);
    await waitFor(async () => (await orderKeys(p)).length === 0 || undefined, { timeoutMs: 10_000, what: 'every object line gone from Redis' });
  });

  it('a dispatcher SIGKILLed mid-run and replaced: its deliveries are redone before the next events of their objects', async (t) => {
    const p = await run(t, 'entity', async (p) => {
      await p.bed.receiver.waitForCount(500, 60_000);
      await p.kill(p.running('dispatcher')[0]!);
      await p.spawn('dispatcher');
    });
    const order = checkEntityOrder(p.bed.emulator.mainFrames(), p.bed.receiver.requests);
    t.diagnostic(`${order.violations.length} of ${order.constrained} events out of order`);
    assert.deepEqual(order.violations.slice(0, 10), [], `${order.violations.length} events out of order`);
    // What the kill left behind: the place of an event it had delivered but not yet released,
    // the last of its object (nothing came to skip it). Only finished events, and the line expires.
    const redis = p.bed.redis.client();
    try {
      const leftovers = await orderKeys(p);
      t.diagnostic(`${leftovers.length} lines left by the kill`);
      for (const key of leftovers) {
        assert.ok((await redis.ttl(key)) > 0, `${key} never expires`);
        for (const member of await redis.zrange(key, '0', '-1')) {
          const state = await p.queue.getJobState(member.slice(member.indexOf(':') + 1));
          assert.ok(state === 'completed' || state === 'unknown', `${key} still holds an event that is ${state}`);
        }
      }
    } finally {
      redis.disconnect();
    }
  });

  it('without ordering (the default) the same load is delivered out of order, and nothing of ordering is written', async (t) => {
    const p = await run(t, 'none');
    const order = checkEntityOrder(p.bed.emulator.mainFrames(), p.bed.receiver.requests);
    t.diagnostic(`${order.violations.length} of ${order.constrained} events sent before the previous event of their object was acknowledged`);
    assert.ok(order.violations.length > 0, 'the oracle must see disorder when nothing orders the deliveries');
    assert.deepEqual(await orderKeys(p), []);
    const [job] = await p.queue.getJobs(['completed'], 0, 0);
    assert.ok(job && !('entity' in (job.data as object)), 'jobs of the default mode carry no entity');
  });
});
