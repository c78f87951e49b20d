/**
 * Fault suite, scaling and high availability: three dispatchers with
 * replicas SIGKILLed and added mid-run; two ingesters for one connector with
 * the leader SIGKILLed, and the leader paused (SIGSTOP) past its lease then
 * resumed (SIGCONT). Harness and oracles: see harness.ts; besides them, the
 * roles each ingester reports (logs, /readyz, metrics), the takeover time
 * (printed), and, for the paused leader, every command Redis executed
 * (MONITOR): no write of the stream cursor by the old leader's connections
 * after the new leader's term began.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { request } from 'undici';
import { termKey } from '../../ingester/leadership/lease.js';
import { cursorKey } from '../../shared/queue/contract.js';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';
import { monitorRedis } from '../helpers/redis-monitor.js';
import type { LogLine, ManagedProcess } from '../helpers/processes.js';
import { describeReport, FAULT_ENV, Pipeline } from './harness.js';

let pipeline: Pipeline | undefined;
afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
});

/** The product's default: takeover times measured here are the ones users get. */
const LEASE_TTL_MS = 10_000;
/**
 * The ingester scenarios kill no dispatcher, so any duplicate delivery would
 * come from an event read twice; on a loaded machine, a short lock or request
 * timeout would add duplicates of the dispatcher's own (a missed lock renewal,
 * a 2xx answered after the client gave up).
 */
const INGESTER_HA_ENV = { INGESTER_LEASE_TTL_MS: String(LEASE_TTL_MS), DISPATCHER_LOCK_DURATION_MS: '10000', WEBHOOK_REQUEST_TIMEOUT_MS: '30000' };

async function withMetrics(): Promise<{ env: Record<string, string>; port: number }> {
  const port = await freePort();
  return { env: { METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1', METRICS_PORT: String(port) }, port };
}

async function readyz(port: number): Promise<{ status: number; body: { ready: boolean; reasons: string[]; role?: string } }> {
  const response = await request(`http://127.0.0.1:${port}/readyz`);
  return { status: response.statusCode, body: (await response.body.json()) as { ready: boolean; reasons: string[]; role?: string } };
}

const msgIs = (prefix: string) => (line: LogLine) => typeof line.msg === 'string' && line.msg.startsWith(prefix);
const logTime = (line: LogLine) => Date.parse(String(line.time));

/** Addresses (ip:port) of the Redis connections open now whose client name is one of `names`. */
async function clientAddresses(redis: Redis, ...names: string[]): Promise<Set<string>> {
  const list = String(await redis.client('LIST'));
  return new Set(
    list
      .split('\n')
      .map((line) => Object.fromEntries(line.trim().split(' ').map((field) => field.split('=') as [string, string])))
      .filter((client) => names.includes(client.name!))
      .map((client) => client.addr!),
  );
}

describe('scaling and high availability', () => {
  it('3 dispatchers, replicas SIGKILLed and added mid-run: every event delivered, duplicates only from in-flight deliveries', async (t) => {
    // On a loaded machine a live replica must neither miss its lock renewals
    // (a lock of 10 s rather than 2) nor time out on the receiver (30 s rather
    // than 3): duplicates then come from the kills alone, and no outage pause
    // is taken for the endpoint's.
    const p = (pipeline = await Pipeline.start({ env: { DISPATCHER_LOCK_DURATION_MS: '10000', WEBHOOK_REQUEST_TIMEOUT_MS: '30000' } }));
    const { receiver } = p.bed;
    // 100 ms per request: a replica delivers at most 200 events/s, so the
    // replicas are busy and share the queue.
    receiver.setFaults(() => ({ delayMs: 100 }));
    await p.spawn('ingester');
    const metricsPorts = new Map<ManagedProcess, number>();
    const addDispatcher = async () => {
      const { env, port } = await withMetrics();
      metricsPorts.set(await p.spawn('dispatcher', env), port);
    };
    for (let i = 0; i < 3; i += 1) await addDispatcher();
    let kills = 0;
    let added = 0;
    // 400 events/s for 20 s (9,600 deliveries with the dependencies); the
    // replica set changes at fixed points of the run, so always mid-stream:
    // 3 → 4 → 3 → 2 → 3 → 2 → 3 → 4 → 3 replicas.
    const steps = ['add', 'kill', 'kill', 'add', 'kill', 'add', 'add', 'kill'] as const;
    await p.publishDuring(8_000, 4, async () => {
      for (const [index, step] of steps.entries()) {
        await receiver.waitForCount(1_000 + index * 900, 60_000);
        if (step === 'add') {
          await addDispatcher();
          added += 1;
        } else {
          const running = p.running('dispatcher');
          await p.kill(running[Math.floor(Math.random() * running.length)]!);
          kills += 1;
        }
      }
    }, (i) => ({ dependencies: i % 5 === 0 ? 1 : 0 }));
    const report = await p.expectAllDelivered();
    t.diagnostic(`${kills} dispatcher SIGKILLs, ${added} added (3 at the end): ${describeReport(report)}`);
    // Only deliveries in flight at a kill (CONNECTOR_CONSUMER_COUNT each) may arrive twice.
    const perKill = Number(FAULT_ENV.CONNECTOR_CONSUMER_COUNT);
    assert.ok(report.duplicated <= perKill * kills, `${report.duplicated} duplicates for ${kills} kills`);
    // How the survivors shared the work, for the record: it depends on the
    // machine's load (an idle replica rarely wins a job from busy ones), so it is not asserted.
    const shares: number[] = [];
    for (const dispatcher of p.running('dispatcher')) {
      const text = await scrapeMetrics(metricsPorts.get(dispatcher)!);
      shares.push(text.split('\n').filter((line) => line.startsWith('processed_messages_total{')).reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0));
    }
    t.diagnostic(`delivered by the 3 survivors: ${shares.join(', ')}`);
  });

  it('2 ingesters, the leader SIGKILLed mid-stream: the standby takes over from the committed position, nothing lost or read twice', async (t) => {
    const p = (pipeline = await Pipeline.start({ env: INGESTER_HA_ENV }));
    const { receiver } = p.bed;
    const leaderMetrics = await withMetrics();
    const standbyMetrics = await withMetrics();
    const leader = await p.spawn('ingester', leaderMetrics.env);
    await leader.waitForLog(msgIs('lease.acquired'), 10_000, 'lease.acquired');
    const standby = await p.spawn('ingester', standbyMetrics.env);
    await standby.waitForLog(msgIs('lease.standby'), 10_000, 'lease.standby');
    await p.spawn('dispatcher');

    let killedAt = 0;
    let takeover: LogLine | undefined;
    // 300 events/s for 20 s: the stream goes on during the whole takeover.
    await p.publishDuring(6_000, 3, async () => {
      await receiver.waitForCount(1_000, 60_000);
      // Standby: ready, says so, reads nothing and does not register or ping.
      assert.deepEqual(await readyz(standbyMetrics.port), { status: 200, body: { ready: true, reasons: [], role: 'standby' } });
      assert.equal((await readyz(leaderMetrics.port)).body.role, 'leader');
      const standbyText = await scrapeMetrics(standbyMetrics.port);
      assert.equal(metricValue(standbyText, 'opencti_webhook_ingester_leader'), 0);
      assert.equal(metricValue(standbyText, 'opencti_webhook_stream_connected'), 0);
      assert.equal(metricValue(await scrapeMetrics(leaderMetrics.port), 'opencti_webhook_ingester_leader'), 1);
      for (const msg of ['stream.opened', 'platform.registered', 'ingester.position_loaded']) {
        assert.ok(!standby.logs.some(msgIs(msg)), `the standby logged ${msg}`);
      }
      killedAt = Date.now();
      await p.kill(leader);
      // The requirement: a standby takes over within 15 s (the TTL, 10 s, plus one poll).
      takeover = await standby.waitForLog(msgIs('lease.acquired'), 15_000, 'the takeover');
    });
    const report = await p.expectAllDelivered();
    const takeoverMs = logTime(takeover!) - killedAt;
    t.diagnostic(`takeover ${(takeoverMs / 1000).toFixed(1)} s after SIGKILL (lease TTL ${LEASE_TTL_MS / 1000} s): ${describeReport(report)}`);
    const loaded = await standby.waitForLog(msgIs('ingester.position_loaded'), 5_000, 'the position loaded');
    assert.equal(loaded.source, 'redis', 'the new leader did not resume from the committed position');
    // No dispatcher died: a frame enqueued twice would show up as a second delivery.
    assert.equal(report.duplicated, 0);
    const text = await scrapeMetrics(standbyMetrics.port);
    assert.equal(metricValue(text, 'opencti_webhook_ingester_leader'), 1);
    assert.equal(metricValue(text, 'opencti_webhook_ingester_lease_acquired_total'), 1);
    assert.deepEqual(await readyz(standbyMetrics.port), { status: 200, body: { ready: true, reasons: [], role: 'leader' } });
  });

  it('2 ingesters, the leader paused past its lease (SIGSTOP) then resumed: it commits nothing more and stands by, then leads again when needed; nothing lost', async (t) => {
    const p = (pipeline = await Pipeline.start({ env: INGESTER_HA_ENV }));
    const { receiver, redis } = p.bed;
    const cursor = cursorKey(p.env.CONNECTOR_ID!);
    const term = termKey(p.env.CONNECTOR_ID!);
    // Every command Redis executes on the cursor or the term, in order, with
    // the connection that sent it ("lua" for a script's own commands). An
    // aborted EXEC executes nothing.
    const executed: Array<{ source: string; args: string[] }> = [];
    const admin = redis.client();
    const stopMonitor = await monitorRedis(redis.port, ({ source, args }) => {
      // A commit writes the cursor with an EVAL whose first key is the cursor (ingester/position/cursor-store.ts).
      if (args[0] === 'eval' && args[3] === cursor) executed.push({ source, args: ['commit', cursor] });
      else if (args[1] === cursor || args[1] === term) executed.push({ source, args: args.slice(0, 3) });
    });
    /** Index in `executed` where the term of `acquired` (a lease.acquired line) began. */
    const termBegan = (acquired: LogLine) =>
      executed.findIndex(({ source, args }) => source === 'lua' && args[0] === 'set' && args[1] === term && String(args[2]).startsWith(`${String(acquired.epoch)} `));
    try {
      const oldMetrics = await withMetrics();
      const old = await p.spawn('ingester', oldMetrics.env);
      await old.waitForLog(msgIs('lease.acquired'), 10_000, 'lease.acquired');
      const oldConnections = await clientAddresses(admin, 'opencti-webhook:ingester', 'opencti-webhook:ingester-commits');
      const successor = await p.spawn('ingester');
      await successor.waitForLog(msgIs('lease.standby'), 10_000, 'lease.standby');
      await p.spawn('dispatcher');

      let pausedAt = 0;
      let takeover: LogLine | undefined;
      let lost: LogLine | undefined;
      let again: LogLine | undefined;
      // 300 events/s for 30 s: the pause, the takeover, the wake-up and the second takeover all land mid-stream.
      await p.publishDuring(9_000, 3, async ({ more }) => {
        await receiver.waitForCount(1_000, 60_000);
        pausedAt = Date.now();
        process.kill(old.pid, 'SIGSTOP');
        try {
          takeover = await successor.waitForLog(msgIs('lease.acquired'), 15_000, 'the takeover');
          // The new leader commits a while before the old one wakes up.
          await more(500);
        } finally {
          process.kill(old.pid, 'SIGCONT');
        }
        lost = await old.waitForLog(msgIs('lease.lost'), 10_000, 'lease.lost');
        await old.waitForLog(msgIs('lease.standby'), 10_000, 'lease.standby', old.logs.indexOf(lost));
        assert.deepEqual(await readyz(oldMetrics.port), { status: 200, body: { ready: true, reasons: [], role: 'standby' } });
        const text = await scrapeMetrics(oldMetrics.port);
        assert.equal(metricValue(text, 'opencti_webhook_ingester_leader'), 0);
        assert.equal(metricValue(text, 'opencti_webhook_stream_connected'), 0);
        // A standby reads nothing: no stale lag for a dashboard or an alert to pick up.
        assert.ok(Number.isNaN(metricValue(text, 'opencti_webhook_stream_lag_seconds')), 'a standby reports a lag');
        assert.equal(metricValue(text, `opencti_webhook_ingester_lease_lost_total{reason="${String(lost.reason)}"}`), 1);

        // The old leader, now a standby in the same process, takes over in turn.
        await p.kill(successor);
        again = await old.waitForLog(msgIs('lease.acquired'), 15_000, 'the second takeover', old.logs.indexOf(lost));
      });
      const report = await p.expectAllDelivered();
      t.diagnostic(
        `takeover ${((logTime(takeover!) - pausedAt) / 1000).toFixed(1)} s after SIGSTOP (lease TTL ${LEASE_TTL_MS / 1000} s); ` +
          `old leader: lease.lost (${String(lost!.reason)}), standby, then leader again; ${describeReport(report)}`,
      );

      const secondTerm = termBegan(takeover!);
      const thirdTerm = termBegan(again!);
      assert.ok(secondTerm > 0 && thirdTerm > secondTerm, 'the terms did not begin in Redis in order');
      const oldWrites = (from: number, to: number) =>
        executed.slice(from, to).filter(({ source, args }) => args[0] === 'commit' && oldConnections.has(source)).length;
      assert.ok(oldWrites(0, secondTerm) > 0, 'the old leader never committed: are its connections known?');
      assert.equal(oldWrites(secondTerm, thirdTerm), 0, 'the old leader committed after losing its lease');
      assert.ok(executed.slice(secondTerm, thirdTerm).some(({ args, source }) => args[0] === 'commit' && !oldConnections.has(source)), 'the new leader never committed');
      assert.ok(oldWrites(thirdTerm, executed.length) > 0, 'the old leader did not commit in its second term');
      assert.equal((await readyz(oldMetrics.port)).body.role, 'leader');
      assert.equal(metricValue(await scrapeMetrics(oldMetrics.port), 'opencti_webhook_ingester_lease_acquired_total'), 2);
    } finally {
      stopMonitor();
      admin.disconnect();
    }
  });

  it('SIGTERM of the leader releases the lease: the standby takes over at once', async (t) => {
    const p = (pipeline = await Pipeline.start({ env: INGESTER_HA_ENV }));
    const leader = await p.spawn('ingester');
    await leader.waitForLog(msgIs('lease.acquired'), 10_000, 'lease.acquired');
    const standby = await p.spawn('ingester');
    await standby.waitForLog(msgIs('lease.standby'), 10_000, 'lease.standby');
    await p.spawn('dispatcher');
    await p.publishDuring(2_000, 2, async () => {
      await p.bed.receiver.waitForCount(500, 60_000);
      const stoppedAt = Date.now();
      await p.kill(leader, 'SIGTERM');
      assert.ok(leader.logs.some(msgIs('lease.released')), 'the leader did not release its lease');
      // Well under the TTL: the standby polls every tenth of it.
      const takeover = await standby.waitForLog(msgIs('lease.acquired'), LEASE_TTL_MS / 2, 'the takeover');
      t.diagnostic(`takeover ${((logTime(takeover) - stoppedAt) / 1000).toFixed(1)} s after SIGTERM`);
    });
    const report = await p.expectAllDelivered();
    t.diagnostic(describeReport(report));
    assert.equal(report.duplicated, 0);
  });
});
