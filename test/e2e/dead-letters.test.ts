/**
 * What a dead letter costs in Redis. Doubles: stream emulator, a recording
 * receiver that answers 500 to everything, throwaway redis-server; real
 * ingester and dispatcher. Oracle: the failed set as BullMQ reads it back.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { QUEUE_NAME, queuePrefix } from '../../shared/queue/contract.js';
import { startProcess, stopAll, type ManagedProcess } from '../helpers/processes.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

const EVENTS = 6;
const ATTEMPTS = 4;

describe('dead letters', () => {
  let bed: TestBed;
  before(async () => {
    bed = await startTestBed();
    bed.receiver.setFaults(() => ({ status: 500 }));
  });
  afterEach(() => stopAll());
  after(() => bed?.close());

  /** Events in the emulator's log: a fresh connector replays all of them, not only the ones its test published. */
  let streamed = 0;

  /** Runs a connector on `EVENTS` new events until every event of the log failed for good; returns its queue. */
  async function failAll(overrides: Record<string, string>): Promise<Queue> {
    const env = bed.env({
      WEBHOOK_RETRY_ATTEMPTS: String(ATTEMPTS),
      // Every answer is a 500: the breaker would call it an outage and stop charging attempts.
      WEBHOOK_OUTAGE_FAILURE_THRESHOLD: '10000',
      ...overrides,
    });
    bed.emulator.publishMany(EVENTS);
    streamed += EVENTS;
    await startProcess('ingester', env);
    const dispatcher: ManagedProcess = await startProcess('dispatcher', env);
    // All of them: a failure still under way would trim the failed set while the test reads it.
    await waitFor(() => dispatcher.logs.filter((line) => line.msg === 'delivery.gave_up').length >= streamed, {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: `${streamed} events given up`,
    });
    return new Queue(QUEUE_NAME, { connection: bed.redis.client(), prefix: queuePrefix(env.CONNECTOR_ID!) });
  }

  it('keeps every dead letter by default, each with one stack trace, whether queued by the ingester or unpacked by the dispatcher', async () => {
    // Queued before the ingester starts, the events are committed as packs of 3; each leaves its pack when it fails.
    const queue = await failAll({ INGESTER_EVENTS_PER_JOB: '3' });
    try {
      const failed = await queue.getJobs(['failed']);
      const traceBytes = failed.map((job) => JSON.stringify(job.stacktrace ?? []).length);
      console.log(`${failed.length} dead letters after ${ATTEMPTS} attempts each; stack traces kept: ${Math.max(...traceBytes)} bytes per job at most`);
      assert.equal(failed.length, EVENTS);
      for (const job of failed) {
        assert.equal(job.attemptsMade, ATTEMPTS, `job ${job.id}`);
        assert.ok((job.stacktrace ?? []).length <= 1, `job ${job.id} holds ${(job.stacktrace ?? []).length} stack traces`);
      }
    } finally {
      await queue.close();
    }
  });

  it('deletes the oldest dead letters beyond DISPATCHER_FAILED_RETENTION_COUNT', async () => {
    const queue = await failAll({ INGESTER_EVENTS_PER_JOB: '1', DISPATCHER_FAILED_RETENTION_COUNT: '2' });
    try {
      const failed = await queue.getJobs(['failed']);
      assert.equal(failed.length, 2);
      for (const job of failed) assert.ok((job.stacktrace ?? []).length <= 1, `job ${job.id} holds ${(job.stacktrace ?? []).length} stack traces`);
    } finally {
      await queue.close();
    }
  });
});
