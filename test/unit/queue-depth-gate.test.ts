import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { QueueDepthGate } from '../../ingester/queue-depth-gate.js';
import { createLogger } from '../../shared/logger.js';

/** A reader that admits events into a queue the test fills by hand; counts the depth reads. */
function setUp(queued: number) {
  const state = { queued, admitted: 0, backlog: 0, depthReads: 0 };
  const queue = { getJobCountByTypes: async () => (state.depthReads += 1, state.queued) } as unknown as Queue;
  const reader = { get admitted() { return state.admitted; }, get backlog() { return state.backlog; } };
  const gate = new QueueDepthGate(queue, reader, { eventsInNewest: (jobs) => jobs }, createLogger('test', 'error'), { highWaterMark: 100, lowWaterMark: 80, checkIntervalMs: 60_000 });
  return { state, gate };
}

async function isOpen(gate: QueueDepthGate): Promise<boolean> {
  const timeout = Symbol('timeout');
  const result = await Promise.race([gate.waitForRoom().then(() => 'open'), new Promise((resolve) => setTimeout(resolve, 50, timeout))]);
  return result === 'open';
}

describe('QueueDepthGate', () => {
  it('reads the depth once per interval while few events are read', async () => {
    const { state, gate } = setUp(10);
    assert.equal(await isOpen(gate), true);
    state.admitted += 50;
    assert.equal(await isOpen(gate), true);
    assert.equal(state.depthReads, 1);
  });

  it('checks again before the interval ends once the events read since could fill the queue', async () => {
    const { state, gate } = setUp(10);
    assert.equal(await isOpen(gate), true);
    // A fast reader: 95 events read within the interval, all committed.
    state.admitted += 95;
    state.queued += 95;
    assert.equal(await isOpen(gate), false);
    assert.ok(state.depthReads >= 2, 'the depth was not read again');
    assert.equal(gate.closed, true);
    gate.stop();
  });

  it('counts the events read but not yet committed', async () => {
    const { state, gate } = setUp(30);
    state.backlog = 70;
    assert.equal(await isOpen(gate), false);
    gate.stop();
  });
});
