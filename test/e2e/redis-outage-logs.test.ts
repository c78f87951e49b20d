/**
 * What a log shipper sees when Redis is unreachable: both processes start
 * with Redis down, wait for it, and deliver once it comes; every line they
 * write on stdout and stderr is one JSON object, and a long outage costs a
 * few lines (one per state change), not one per reconnect attempt.
 * Doubles: stream emulator, recording receiver, throwaway redis-server
 * (started, stopped before the product starts, restarted 20 s later, then
 * stopped for 10 s while both run); real
 * processes. Oracles: the raw output of both processes, /readyz, the receiver.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { freePort } from '../helpers/free-port.js';
import { startProcess, type ManagedProcess } from '../helpers/processes.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

/** How long Redis stays down after the processes started, then later while they run: the scenario, not a wait for a condition. */
const OUTAGE_MS = 20_000;
const LATER_OUTAGE_MS = 10_000;
const EVENTS = 10;
/**
 * Lines a process may write over the whole run: its start and configuration,
 * per outage one `redis.unavailable`/`redis.recovered` pair per connection
 * and one line per BullMQ queue or worker, a few lines of the pipeline
 * starting and of the leader's lease. One line per reconnect attempt (80 per
 * connection in 20 s) would be far more.
 */
const MAX_LINES = 60;

async function readyzStatus(port: number): Promise<number> {
  const response = await request(`http://127.0.0.1:${port}/readyz`);
  await response.body.dump();
  return response.statusCode;
}

/** Lines of `text` that are not one JSON object each. */
function nonJsonLines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !isJsonObject(line));
}

function isJsonObject(line: string): boolean {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

describe('logs while Redis is unreachable', () => {
  let bed: TestBed;
  const processes: Record<'ingester' | 'dispatcher', ManagedProcess | undefined> = { ingester: undefined, dispatcher: undefined };
  const ports = { ingester: 0, dispatcher: 0 };

  before(async () => {
    // The later outage keeps the data (AOF, clean stop): this test is about logs, not about lost writes.
    bed = await startTestBed({ redis: { appendonly: true } });
    ports.ingester = await freePort();
    ports.dispatcher = await freePort();
  });
  after(() => bed?.close());

  it('writes only JSON lines, a few per outage, and delivers once Redis is back', async () => {
    await bed.redis.kill();
    bed.emulator.publishMany(EVENTS, () => ({ event: 'create' }));
    const env = bed.env({ METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1' });
    for (const kind of ['ingester', 'dispatcher'] as const) {
      processes[kind] = await startProcess(kind, { ...env, METRICS_PORT: String(ports[kind]) }, { waitForStart: false });
    }
    for (const [kind, port] of Object.entries(ports)) {
      await waitFor(async () => (await readyzStatus(port)) === 503, { timeoutMs: 15_000, what: `${kind} /readyz to answer 503 while Redis is down` });
    }

    await sleep(OUTAGE_MS);
    await bed.redis.restart();
    await bed.receiver.waitForCount(EVENTS, 30_000);
    for (const [kind, port] of Object.entries(ports)) {
      await waitFor(async () => (await readyzStatus(port)) === 200, { timeoutMs: 15_000, what: `${kind} /readyz to answer 200 once Redis is back` });
    }

    // Later, while both run.
    await bed.redis.kill('SIGTERM');
    bed.emulator.publishMany(EVENTS, () => ({ event: 'update' }));
    await sleep(LATER_OUTAGE_MS);
    await bed.redis.restart();
    await bed.receiver.waitForCount(2 * EVENTS, 30_000);
    for (const [kind, child] of Object.entries(processes)) assert.deepEqual(await child!.kill('SIGTERM'), { code: 0, signal: null }, `${kind} did not shut down cleanly`);

    for (const [kind, child] of Object.entries(processes)) {
      const stdoutLines = child!.stdout.split('\n').filter((line) => line !== '');
      const stderrLines = child!.stderr.split('\n').filter((line) => line !== '');
      const tally = new Map<string, number>();
      for (const line of child!.logs) tally.set(String(line.msg), (tally.get(String(line.msg)) ?? 0) + 1);
      console.log(`${kind}: ${stdoutLines.length} stdout lines, ${stderrLines.length} stderr lines, ${nonJsonLines(child!.stdout).length + nonJsonLines(child!.stderr).length} not JSON; ${[...tally].map(([msg, n]) => `${msg}×${n}`).join(' ')}`);
      assert.deepEqual(nonJsonLines(child!.stdout).slice(0, 10), [], `${kind} wrote non-JSON lines on stdout`);
      assert.deepEqual(nonJsonLines(child!.stderr).slice(0, 10), [], `${kind} wrote non-JSON lines on stderr`);
      const lines = stdoutLines.length + stderrLines.length;
      assert.ok(lines <= MAX_LINES, `${kind} wrote ${lines} lines for one outage:\n${[...stdoutLines, ...stderrLines].slice(0, 60).join('\n')}`);
      const unavailable = child!.logs.filter((line) => line.msg === 'redis.unavailable');
      assert.ok(unavailable.length > 0, `${kind} never said Redis was unavailable`);
    }
  });
});
