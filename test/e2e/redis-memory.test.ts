/**
 * Backpressure on Redis memory. Doubles: a throwaway redis-server with a
 * small maxmemory and noeviction (a full Redis refuses writes), a stream
 * emulator holding more event bytes than that Redis can, a recording
 * receiver; real ingester and dispatcher. Oracles: the processes' logs and
 * metrics, Redis's INFO memory, the receiver's records.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';
import { startProcess, type ManagedProcess } from '../helpers/processes.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';

const MAXMEMORY_BYTES = 32 * 1024 * 1024;
// 40 MB of events; one per job (packs would keep every delivered event among BullMQ's 1,000 completed jobs).
const EVENTS = 4_000;
const EVENT_BYTES = 10_000;

async function redisMemory(bed: TestBed): Promise<{ used: number; peak: number; max: number }> {
  const info = await bed.redis.client().info('memory');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1]);
  return { used: field('used_memory'), peak: field('used_memory_peak'), max: field('maxmemory') };
}

/** What tells that Redis refused a write, shortened (a failed commit's error holds its whole batch). */
function refusals(process: ManagedProcess): string[] {
  const lines = process.logs.filter((line) => line.msg === 'enqueue.failed' || /OOM/.test(JSON.stringify(line)));
  const errors = lines.map((line) => `${String(line.msg)}: ${JSON.stringify(line.err).slice(0, 300)}`);
  return /OOM/.test(process.stderr) ? [...errors, 'OOM on stderr'] : errors;
}

describe('Redis memory', () => {
  let bed: TestBed;
  before(async () => {
    bed = await startTestBed({ redis: { args: ['--maxmemory', String(MAXMEMORY_BYTES), '--maxmemory-policy', 'noeviction'] } });
  });
  after(() => bed?.close());

  it('the ingester stops reading before Redis refuses a commit, and reads on once a dispatcher frees memory', async () => {
    const frames = bed.emulator.publishMany(EVENTS, { size: EVENT_BYTES });
    const metricsPort = await freePort();
    const env = bed.env({ INGESTER_EVENTS_PER_JOB: '1', METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1', METRICS_PORT: String(metricsPort) });
    const ingester = await startProcess('ingester', env);
    const stopped = await ingester.waitForLog((line) => line.msg === 'stream.paused' || line.msg === 'enqueue.failed', 120_000, 'the ingester to pause reading or fail a commit');
    assert.deepEqual(refusals(ingester), [], 'Redis refused a commit');
    assert.equal(stopped.reason, 'redis_memory');
    const memory = await redisMemory(bed);
    const metrics = await scrapeMetrics(metricsPort);
    console.log(`paused at ${String(stopped.redisMemoryWithBuffer)} of ${String(stopped.redisMaxmemory)} bytes; Redis now ${memory.used} of ${memory.max}; ${bed.receiver.requests.length} delivered`);
    assert.ok(memory.used < memory.max);
    assert.equal(metricValue(metrics, 'opencti_webhook_ingester_paused'), 1);
    // What Redis holds now; the pause also counted the events read but not yet committed.
    const ratio = metricValue(metrics, 'opencti_webhook_redis_memory_used_ratio');
    assert.ok(ratio > 0 && ratio < 1, `used ratio ${ratio}`);

    await startProcess('dispatcher', { ...env, METRICS_ENABLE: 'false' });
    await ingester.waitForLog((line) => line.msg === 'stream.resumed', 120_000, 'the ingester to read on');
    await bed.receiver.waitForCount(frames.length, 180_000);
    assert.deepEqual(refusals(ingester), [], 'Redis refused a commit');
    const pauses = ingester.logs.filter((line) => line.msg === 'stream.paused').length;
    const { peak, max } = await redisMemory(bed);
    console.log(`${frames.length} events delivered; the ingester paused ${pauses} times; Redis used at most ${peak} of ${max} bytes`);
    assert.ok(peak < max);
  });
});
