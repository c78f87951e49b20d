import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueueDepthGate } from '../../ingester/backpressure/queue-depth-gate.js';
import type { RedisMemory } from '../../ingester/backpressure/redis-memory.js';
import { createLogger } from '../../shared/observability/logger.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A reader that admits events into a queue the test fills by hand; counts the
 * reads. `failing` makes the depth read reject; `memory` is what INFO says.
 */
function setUp(queued: number, options: { memory?: RedisMemory; checkIntervalMs?: number } = {}) {
  const state = { queued, admitted: 0, admittedChars: 0, backlog: 0, depthReads: 0, failing: false, memory: options.memory };
  const reports = { paused: [] as Array<boolean | undefined>, memoryRatio: [] as Array<number | undefined> };
  const gate = new QueueDepthGate(
    {
      queue: {
        getJobCountByTypes: async () => {
          state.depthReads += 1;
          if (state.failing) throw new Error('ERR the test says no');
          return state.queued;
        },
      },
      reader: { get admitted() { return state.admitted; }, get admittedChars() { return state.admittedChars; }, get backlog() { return state.backlog; } },
      jobSizes: { eventsInNewest: (jobs) => jobs },
      memory: async () => state.memory,
      logger: createLogger('test', 'error'),
      observer: { paused: (paused) => reports.paused.push(paused), memoryRatio: (ratio) => reports.memoryRatio.push(ratio) },
    },
    { highWaterMark: 100, lowWaterMark: 80, checkIntervalMs: options.checkIntervalMs ?? 60_000 },
  );
  return { state, gate, reports };
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

  it('stops reading at 90 % of Redis maxmemory, whatever the queue depth', async () => {
    const { gate, reports } = setUp(0, { memory: { usedBytes: 900, maxBytes: 1_000 } });
    assert.equal(await isOpen(gate), false);
    assert.deepEqual(reports.memoryRatio, [0.9]);
    assert.equal(reports.paused.at(-1), true);
    gate.stop();
  });

  it('checks Redis memory again before the interval ends once the bodies read since could fill it', async () => {
    const { state, gate } = setUp(0, { memory: { usedBytes: 500, maxBytes: 1_000 } });
    assert.equal(await isOpen(gate), true);
    // 200 characters could take 400 bytes in Redis: 900 of 1,000.
    state.admittedChars += 200;
    state.memory = { usedBytes: 950, maxBytes: 1_000 };
    assert.equal(await isOpen(gate), false);
    gate.stop();
  });

  it('ignores memory when Redis has no maxmemory', async () => {
    const { gate, reports } = setUp(0, { memory: undefined });
    assert.equal(await isOpen(gate), true);
    assert.deepEqual(reports.memoryRatio, [undefined]);
  });

  it('resumes below 80 % of maxmemory, not before', async () => {
    const { state, gate, reports } = setUp(0, { memory: { usedBytes: 950, maxBytes: 1_000 }, checkIntervalMs: 10 });
    const room = gate.waitForRoom();
    await waitFor(() => reports.paused.at(-1) === true, { timeoutMs: 5_000, what: 'paused' });
    state.memory = { usedBytes: 850, maxBytes: 1_000 };
    const reads = state.depthReads;
    await waitFor(() => state.depthReads >= reads + 3, { timeoutMs: 5_000, what: '3 more reads' });
    assert.equal(gate.closed, true, 'resumed at 85 %');
    state.memory = { usedBytes: 790, maxBytes: 1_000 };
    await room;
    assert.equal(gate.closed, false);
    assert.equal(reports.paused.at(-1), false);
  });

  it('reports no paused state while the depth cannot be read, and stops reading until it can', async () => {
    const { state, gate, reports } = setUp(150, { checkIntervalMs: 10 });
    const room = gate.waitForRoom();
    await waitFor(() => reports.paused.at(-1) === true, { timeoutMs: 5_000, what: 'paused' });
    state.failing = true;
    await waitFor(() => reports.paused.length > 1 && reports.paused.at(-1) === undefined, { timeoutMs: 5_000, what: 'the paused state reset' });
    // Drained meanwhile, but unknown: still stopped, and the gauge is not left at 1.
    state.queued = 0;
    const reads = state.depthReads;
    await waitFor(() => state.depthReads >= reads + 3, { timeoutMs: 5_000, what: '3 more reads' });
    assert.equal(gate.closed, true);
    assert.equal(reports.paused.at(-1), undefined);
    state.failing = false;
    await room;
    assert.equal(reports.paused.at(-1), false);
  });
});
