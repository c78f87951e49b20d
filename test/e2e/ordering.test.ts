/**
 * Per-entity ordering with the real processes, the short cases: a
 * dead-lettered event releases its object's later events (and its replay is
 * delivered outside the order), and the default mode writes nothing of
 * ordering. The long multi-dispatcher run is in test/fault/ordering.test.ts.
 * Doubles: stream emulator, recording receiver, throwaway redis-server.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { eventId } from '../../ingester/stream/frame.js';
import { QUEUE_NAME, queuePrefix } from '../../shared/queue/contract.js';
import { runCliInProcess } from '../helpers/cli.js';
import { checkEntityOrder } from '../helpers/entity-order-oracle.js';
import { startProcess } from '../helpers/processes.js';
import { queuedEvents } from '../helpers/queued-events.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

let bed: TestBed | undefined;
afterEach(async () => {
  await bed?.close();
  bed = undefined;
});

async function inspect(bed: TestBed, connectorId: string) {
  const redis = bed.redis.client();
  const queue = new Queue(QUEUE_NAME, { connection: bed.redis.client({ maxRetriesPerRequest: null }), prefix: queuePrefix(connectorId) });
  return {
    queue,
    lines: () => redis.keys(`${queuePrefix(connectorId)}:order:*`),
    close: async () => {
      await queue.close();
      redis.disconnect();
    },
  };
}

describe('per-entity ordering (processes)', () => {
  it('a dead-lettered event releases the later events of its object; its replay is delivered outside the order', async (t) => {
    bed = await startTestBed();
    const env = bed.env({
      WEBHOOK_ORDERING: 'entity',
      WEBHOOK_RETRY_ATTEMPTS: '3',
      WEBHOOK_RETRY_BASE_DELAY_MS: '100',
      WEBHOOK_RETRY_MAX_DELAY_MS: '200',
      CONNECTOR_CONSUMER_COUNT: '10',
    });
    // One object only, so every update is about it: create, then 4 updates.
    const frames = bed.emulator.publishMany(5, (i) => ({ event: i === 0 ? 'create' : 'update' }));
    const create = frames[0]!;
    const createId = eventId(create.event, create.id, create.data);
    let refuse = true;
    bed.receiver.setFaults((r) => (refuse && r.headers['webhook-id'] === createId ? { status: 500 } : undefined));
    const checks = await inspect(bed, env.CONNECTOR_ID!);
    t.after(() => checks.close());
    await startProcess('ingester', env);
    await startProcess('dispatcher', env);

    await bed.receiver.waitForIds(frames.slice(1).map((f) => eventId(f.event, f.id, f.data)), 30_000);
    assert.equal(await checks.queue.getFailedCount(), 1);
    assert.equal(bed.receiver.requests.filter((r) => r.headers['webhook-id'] === createId).length, 3, 'the create used its 3 attempts first');
    const order = checkEntityOrder(frames, bed.receiver.requests, new Set([createId]));
    assert.deepEqual(order.violations, []);
    assert.equal(order.constrained, 4);
    await waitFor(async () => (await checks.lines()).length === 0 || undefined, { timeoutMs: 5_000, what: 'the line gone' });

    refuse = false;
    const replay = await runCliInProcess(['replay', '--all'], env);
    assert.equal(replay.code, 0, replay.stderr);
    await bed.receiver.waitForIds([createId], 15_000);
    const last = bed.receiver.delivered().at(-1)!;
    assert.equal(last.headers['webhook-id'], createId, 'the replayed create comes after its updates: a replay is not ordered');
    assert.deepEqual(await checks.lines(), []);
  });

  it('the default mode (WEBHOOK_ORDERING unset) lines nothing up and marks no job; a dispatcher set otherwise says so', async (t) => {
    bed = await startTestBed();
    const env = bed.env({ CONNECTOR_CONSUMER_COUNT: '10' });
    const frames = bed.emulator.publishMany(30, (i) => ({ event: i % 3 === 0 ? 'create' : 'update' }));
    const checks = await inspect(bed, env.CONNECTOR_ID!);
    t.after(() => checks.close());
    await startProcess('ingester', env);
    const mistaken = await startProcess('dispatcher', { ...env, WEBHOOK_ORDERING: 'entity' });
    await mistaken.waitForLog((line) => String(line.msg).startsWith('ordering.not_lined_up'), 10_000, 'the mismatch warning');
    const status = await runCliInProcess(['status', '--json'], env);
    assert.equal((JSON.parse(status.stdout) as { destinations: Array<{ ordering: string }> }).destinations[0]!.ordering, 'none');
    await bed.receiver.waitForIds(frames.map((f) => eventId(f.event, f.id, f.data)), 30_000);
    assert.deepEqual(await checks.lines(), []);
    // Events, not jobs: without entity ordering the ingester packs consecutive events into one job.
    const completed = await waitFor(async () => {
      const events = await queuedEvents(checks.queue, ['completed']);
      return events.length === 30 ? events : undefined;
    }, { timeoutMs: 5_000, what: '30 completed events' });
    assert.ok(completed.every(({ data }) => !('entity' in data)), 'an event of the default mode carries an entity');
  });
});
