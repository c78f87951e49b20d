/**
 * Upgrade in place: the previous release fills a Redis with a queue in every state, then the
 * current build runs on that Redis with the same settings (the original WEBHOOK_* variables,
 * i.e. the `default` destination) and must drain it.
 *
 * Doubles: stream and platform emulator, recording receiver scripted to answer 503 once to
 * some events and 400 to others, throwaway redis-server. Real processes: the previous
 * release's ingester and dispatcher (built from git history in a temporary worktree), then the
 * current ingester, dispatcher and CLI.
 * Oracles: the jobs in Redis as BullMQ reads them (by the names the previous release used,
 * written out here on purpose: the current code's constants could move with it), the
 * receiver's records against the emulator's log, the stream position the new ingester asks
 * for, and both releases' /metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { runCliProcess } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { scrapeMetrics } from '../helpers/metrics.js';
import { startProcess, stopAll, type ManagedProcess } from '../helpers/processes.js';
import type { RecordedRequest } from '../helpers/recording-receiver.js';
import type { EmittedFrame } from '../helpers/stream-emulator.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { scaled, waitFor } from '../helpers/wait.js';
import { buildPreviousRelease, type PreviousRelease } from './previous-release.js';

/** The release before destinations (issue #14): what deployments run today. */
const PREVIOUS_RELEASE = '52a8fbfda4cc6c5e8211114ce642b3aad416df79';

// Where and how the previous release keeps its queue (its shared/queue/contract.ts).
const QUEUE = 'events';
const prefixOf = (connectorId: string): string => `opencti-webhook:{${connectorId}}`;
const PACK = 'pack';

const EVENT_TYPES = ['create', 'update', 'delete'] as const;
/** Published before the old ingester starts: read in one commit, so queued as packs of INGESTER_EVENTS_PER_JOB. */
const BACKLOG = 30;
/** Published while no dispatcher runs: they wait. A backlog read at once (packs), then live events (singles). */
const WAITING_PACKED = 25;
const WAITING_SINGLES = 3;
/** Published once the new processes run. */
const AFTER_SWITCH = 5;
/** Indexes in the backlog of events answered 503 once (left delayed) and 500 until the switch (dead-lettered). */
const DELAYED_AT = [2, 7, 23];
const REJECTED_AT = [4, 11, 26];
/**
 * The Retry-After of those 503s: long enough to outlast the switch, so the jobs are still
 * delayed when the old processes stop, short enough for the new dispatcher to deliver them
 * within the test. Other retries stay fast, so the 500s exhaust their attempts at once.
 */
const RETRY_AFTER_MS = 20_000;
const RETRY_AFTER_S = Math.ceil(scaled(RETRY_AFTER_MS) / 1000);

describe('upgrade from the previous release', () => {
  let release: PreviousRelease | undefined;
  let bed: TestBed | undefined;
  let queue: Queue | undefined;
  const started = Date.now();
  let phaseStart = started;
  /** Prints how long the phase that just ended took. */
  function phase(name: string): void {
    const now = Date.now();
    console.log(`upgrade: ${name} took ${((now - phaseStart) / 1000).toFixed(1)} s`);
    phaseStart = now;
  }

  before(async () => {
    release = await buildPreviousRelease(PREVIOUS_RELEASE);
    phase(`building release ${PREVIOUS_RELEASE.slice(0, 7)} in a temporary worktree`);
  });
  after(async () => {
    await queue?.close();
    await stopAll();
    await bed?.close();
    await release?.remove();
    console.log(`upgrade: ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
  });

  it('drains the waiting, delayed and failed jobs the previous release left, resumes its stream position and keeps its metrics', { timeout: scaled(600_000) }, async () => {
    const old = release!;
    bed = await startTestBed();
    const { emulator, receiver, redis } = bed;
    const [ingesterPort, dispatcherPort] = [await freePort(), await freePort()];
    // Only settings the previous release knows; the new processes get exactly the same.
    const env = bed.env({
      WEBHOOK_RETRY_ATTEMPTS: '2',
      // Retry-After is capped by the longest retry delay.
      WEBHOOK_RETRY_MAX_DELAY_MS: String(2 * RETRY_AFTER_S * 1000),
      // The dead letters' 500s must not read as an outage: a paused queue is not what this test carries over.
      WEBHOOK_OUTAGE_FAILURE_THRESHOLD: '1000',
      METRICS_ENABLE: 'true',
      METRICS_ADDR: '127.0.0.1',
    });
    const ingesterEnv = { ...env, METRICS_PORT: String(ingesterPort) };
    const dispatcherEnv = { ...env, METRICS_PORT: String(dispatcherPort) };
    queue = new Queue(QUEUE, { connection: redis.client({ maxRetriesPerRequest: null }), prefix: prefixOf(env.CONNECTOR_ID!) });

    // --- The previous release delivers a backlog; some events end delayed, some dead-lettered.
    const backlog = publish(BACKLOG);
    const delayedIds = new Set(DELAYED_AT.map((i) => backlog[i]!.id));
    const rejectedIds = new Set(REJECTED_AT.map((i) => backlog[i]!.id));
    const answered503 = new Set<string>();
    let rejecting = true;
    receiver.setFaults((req) => {
      const id = eventId(req);
      if (delayedIds.has(id) && !answered503.has(id)) {
        answered503.add(id);
        return { status: 503, headers: { 'retry-after': String(RETRY_AFTER_S) } };
      }
      return rejecting && rejectedIds.has(id) ? { status: 500, body: 'broken' } : undefined;
    });
    const oldIngester = await startProcess('ingester', ingesterEnv, { script: old.script('ingester') });
    const oldDispatcher = await startProcess('dispatcher', dispatcherEnv, { script: old.script('dispatcher') });
    const settledByOld = backlog.length - delayedIds.size - rejectedIds.size;
    await until(async () => {
      const counts = await queue!.getJobCounts('waiting', 'active', 'delayed', 'failed');
      const done = deliveredEventIds().size === settledByOld && counts.waiting === 0 && counts.active === 0 &&
        counts.delayed === delayedIds.size && counts.failed === rejectedIds.size;
      return done || `${deliveredEventIds().size} delivered, jobs ${JSON.stringify(counts)}`;
    }, 60_000, `the old dispatcher to deliver ${settledByOld} events and leave ${delayedIds.size} delayed, ${rejectedIds.size} failed`);
    const oldDispatcherMetrics = await scrapeMetrics(dispatcherPort);
    await Promise.all([stopOld(oldDispatcher), stopOld(oldIngester)]);
    phase('the previous release delivering the backlog');

    // --- With no dispatcher running, the old ingester queues more: a backlog it reads in one
    // commit when it restarts (packs), then live events one at a time (singles).
    const waiting = publish(WAITING_PACKED);
    const restartedIngester = await startProcess('ingester', ingesterEnv, { script: old.script('ingester') });
    await waitForQueued(waiting);
    for (let i = 0; i < WAITING_SINGLES; i++) {
      const single = publish(1);
      waiting.push(...single);
      await waitForQueued(waiting);
    }
    const oldIngesterMetrics = await scrapeMetrics(ingesterPort);
    await stopOld(restartedIngester);

    // --- What the previous release leaves in Redis at the switch.
    const left = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children');
    console.log(`upgrade: at the switch, jobs per state ${JSON.stringify(left)}`);
    assert.equal(left.active, 0, 'a job stayed active after the old processes stopped');
    const waitingJobs = await queue.getJobs(['waiting']);
    assert.ok(waitingJobs.some((job) => job.name === PACK), 'no pack is waiting');
    assert.ok(waitingJobs.some((job) => job.name !== PACK), 'no single event is waiting');
    assert.deepEqual(sorted(waitingJobs.flatMap(streamIdsOf)), sorted(waiting.map((f) => f.id)), 'the waiting jobs hold other events than the ones published while no dispatcher ran');
    const delayedJobs = await queue.getJobs(['delayed']);
    assert.deepEqual(sorted(delayedJobs.flatMap(streamIdsOf)), sorted(delayedIds), 'the delayed jobs are not the events answered 503');
    const failedJobs = await queue.getJobs(['failed']);
    assert.deepEqual(sorted(failedJobs.flatMap(streamIdsOf)), sorted(rejectedIds), 'the failed jobs are not the events answered 500');
    const cursor = await redis.client().hgetall(`${prefixOf(env.CONNECTOR_ID!)}:stream-cursor`);
    assert.ok(cursor.resumeFrom, `the old ingester stored no stream position: ${JSON.stringify(cursor)}`);
    console.log(`upgrade: keys of the previous release at the switch: ${(await keyLayout(redis.client(), prefixOf(env.CONNECTOR_ID!), queue)).join(' ')}`);
    const switchedAt = Date.now();
    const streamRequestsBefore = emulator.requests.length;
    phase('the previous release queueing while no dispatcher ran');

    // --- The current build takes over the same Redis with the same settings.
    rejecting = false;
    const ingester = await startProcess('ingester', ingesterEnv);
    const dispatcher = await startProcess('dispatcher', dispatcherEnv);
    const live = publish(AFTER_SWITCH);
    const notFailed = emulator.mainFrames().filter((f) => !rejectedIds.has(f.id));
    await until(
      () => missing(notFailed.map((f) => f.id)),
      // The delayed events come due RETRY_AFTER_S after their first attempt.
      60_000 + RETRY_AFTER_MS,
      `every event but the dead letters delivered after the switch (${waiting.length} waiting, ${delayedIds.size} delayed, ${live.length} new)`,
    );
    for (const frame of [...waiting, ...live, ...backlog.filter((f) => delayedIds.has(f.id))]) {
      assert.ok(deliveries(frame.id).some((r) => r.receivedAt >= switchedAt), `event ${frame.id} was not delivered by the new dispatcher`);
    }
    const resumed = emulator.requests.slice(streamRequestsBefore).find((r) => r.path.startsWith('/stream') && r.status === 200);
    assert.equal(resumed?.lastEventId, cursor.resumeFrom, 'the new ingester did not resume from the position the old one stored');
    phase('the current build draining the waiting and delayed jobs');

    // --- Dead letters stay dead letters until an operator replays them with the new CLI.
    const stillFailed = await queue.getJobs(['failed']);
    assert.deepEqual(sorted(stillFailed.map((job) => String(job.id))), sorted(failedJobs.map((job) => String(job.id))), 'the failed set changed under the new dispatcher');
    assert.ok([...rejectedIds].every((id) => deliveries(id).length === 0), 'a dead letter was delivered without a replay');
    const replay = await runCliProcess(['replay', '--all'], env);
    assert.equal(replay.code, 0, `cli replay --all exited ${replay.code}\n${replay.stderr}${replay.stdout}`);
    await until(() => missing(rejectedIds), 30_000, `the ${rejectedIds.size} replayed dead letters delivered`);
    for (const job of failedJobs) {
      const [delivery] = deliveries(String(streamIdsOf(job)[0]));
      assert.equal(delivery?.headers['webhook-id'], job.id, `replayed event ${job.id} was sent under another webhook-id`);
    }
    phase('replaying the dead letters with the new CLI');

    // --- Nothing of the stream is missing, and each body is the stream's data byte for byte.
    for (const frame of emulator.mainFrames()) {
      const sent = deliveries(frame.id);
      assert.ok(sent.length > 0, `event ${frame.id} never delivered`);
      for (const r of sent) assert.ok(r.bodyBytes.equals(Buffer.from(frame.data)), `event ${frame.id} delivered with another body`);
    }

    // --- Whatever the old processes exposed, the new ones expose too.
    assertKeepsMetrics('dispatcher', oldDispatcherMetrics, await scrapeMetrics(dispatcherPort));
    assertKeepsMetrics('ingester', oldIngesterMetrics, await scrapeMetrics(ingesterPort));
    const processedNames = (text: string): string[] => sorted(new Set(seriesOf(text, 'processed_messages_total').map((labels) => labels.name ?? '')));
    assert.deepEqual(processedNames(await scrapeMetrics(dispatcherPort)), processedNames(oldDispatcherMetrics), 'processed_messages_total lost its name label');
    assert.deepEqual(processedNames(oldDispatcherMetrics), [env.CONNECTOR_NAME]);
    await Promise.all([ingester.kill('SIGTERM'), dispatcher.kill('SIGTERM')]);
    phase('checking bodies and metrics');

    function publish(count: number): EmittedFrame[] {
      return emulator.publishMany(count, (i) => ({ event: EVENT_TYPES[i % EVENT_TYPES.length] }));
    }

    /** Waits until the jobs waiting in the queue hold exactly `frames`. */
    async function waitForQueued(frames: EmittedFrame[]): Promise<void> {
      const wanted = sorted(frames.map((f) => f.id)).join(' ');
      await until(async () => {
        const queued = sorted((await queue!.getJobs(['waiting'])).flatMap(streamIdsOf));
        return queued.join(' ') === wanted || `${queued.length} events waiting`;
      }, 15_000, `${frames.length} events waiting in the queue`);
    }

    /** True when each of `ids` was delivered, else how many were not. */
    function missing(ids: Iterable<string>): true | string {
      const delivered = deliveredEventIds();
      const absent = [...ids].filter((id) => !delivered.has(id));
      return absent.length === 0 || `${absent.length} not delivered (first: ${absent.slice(0, 5).join(', ')})`;
    }

    function deliveredEventIds(): Set<string> {
      return new Set(receiver.delivered().map(eventId));
    }

    function deliveries(id: string): RecordedRequest[] {
      return receiver.delivered().filter((r) => eventId(r) === id);
    }
  });
});

/** SIGTERM, as an orchestrator stops a container for an upgrade. */
async function stopOld(child: ManagedProcess): Promise<void> {
  const exit = await child.kill('SIGTERM');
  assert.equal(exit.code, 0, `the old ${child.kind} exited ${JSON.stringify(exit)}`);
}

/** The connector's Redis keys, prefix and job ids masked: what a new release must keep reading. */
async function keyLayout(client: Redis, prefix: string, queue: Queue): Promise<string[]> {
  const ids = (await queue.getJobs(['waiting', 'delayed', 'failed', 'completed'])).map((job) => String(job.id));
  const keys = await client.keys(`${prefix}*`);
  return sorted(new Set(keys.map((key) => ids.reduce((masked, id) => masked.replace(`:${id}`, ':<job id>'), key.replace(prefix, '<prefix>')))));
}

/** Waits until `check` returns true; else it says what is still missing, which a timeout quotes. */
async function until(check: () => Promise<true | string> | true | string, timeoutMs: number, what: string): Promise<void> {
  let last = 'not checked yet';
  await waitFor(async () => {
    const result = await check();
    if (result === true) return true;
    last = result;
    return false;
  }, { timeoutMs, intervalMs: 100, what }).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last seen: ${last}`, { cause: err });
  });
}

function eventId(req: RecordedRequest): string {
  return String(req.headers['x-opencti-event-id']);
}

/** SSE ids of the events a job holds, in the previous release's two shapes: one event, or a pack. */
function streamIdsOf(job: Job): string[] {
  const data = job.data as { streamId?: string; events?: Array<{ streamId: string }> };
  return job.name === PACK ? (data.events ?? []).map((e) => e.streamId) : [String(data.streamId)];
}

function sorted(values: Iterable<string>): string[] {
  return [...values].sort();
}

/** `name → type` of every metric family in a Prometheus text exposition. */
function families(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) found.set(match[1]!, match[2]!);
  return found;
}

/**
 * Every family `before` exposes is in `after` with the same type, and its samples keep their
 * label names (new labels may join them): dashboards and alerts written for `before` still work.
 */
function assertKeepsMetrics(kind: string, before: string, after: string): void {
  const now = families(after);
  const lost = [...families(before)].filter(([name, type]) => now.get(name) !== type).map(([name, type]) => `${name} (${type})`);
  assert.deepEqual(lost, [], `the new ${kind} no longer exposes these metrics of the previous release`);
  for (const name of families(before).keys()) {
    const [was, is] = [labelNames(before, name), labelNames(after, name)];
    // A family without samples in one of the two (nothing counted yet) says nothing of its labels.
    if (was.size === 0 || is.size === 0) continue;
    assert.deepEqual([...was].filter((label) => !is.has(label)), [], `the new ${kind}'s ${name} lost labels`);
  }
  console.log(`upgrade: the new ${kind} exposes all ${families(before).size} metric families of the previous release (${now.size} now)`);
}

/** Label names of the samples of one family (a histogram's buckets, sum and count included). */
function labelNames(text: string, family: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(new RegExp(`^${family}(?:_bucket|_sum|_count)?\\{([^}]*)\\} `, 'gm'))) {
    for (const label of match[1]!.matchAll(/(\w+)="/g)) if (label[1] !== 'le') names.add(label[1]!);
  }
  return names;
}

/** Label sets of the samples of one metric. */
function seriesOf(text: string, metric: string): Array<Record<string, string>> {
  const series: Array<Record<string, string>> = [];
  for (const match of text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\} `, 'gm'))) {
    series.push(Object.fromEntries([...match[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!])));
  }
  return series;
}
