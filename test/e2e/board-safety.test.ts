/**
 * The board cannot delete an undelivered event, whatever an operator clicks:
 * every action bull-board 9.10.1 has for removing jobs (empty, obliterate,
 * clean of a state, remove of one job) is sent through its HTTP API with the
 * headers its own page sends (same origin, JSON, basic auth), against active,
 * delayed, waiting (in packs), prioritised jobs and a paused queue. Each is
 * refused; once the endpoint is back every event reaches it. Dead letters can
 * still be discarded, one or all, and each discard is logged with the board
 * user and the event ids, and counted. A pause made on the board is recorded
 * for the endpoint breaker, and the board's resume clears it.
 * Doubles: stream emulator, recording receiver (hanging or answering 500 to
 * chosen events), throwaway redis-server; real ingester, dispatcher and
 * board-only processes.
 * Oracles: HTTP statuses and bodies, the queue in Redis, the receiver's
 * records, the board's log lines and metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { request } from 'undici';
import { eventId } from '../../ingester/stream/frame.js';
import { DEFAULT_DESTINATION, destinationKeys, queuePrefix } from '../../shared/queue/contract.js';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';
import { startProcess, type ManagedProcess } from '../helpers/processes.js';
import { queuedEvents } from '../helpers/queued-events.js';
import type { EmittedFrame } from '../helpers/stream-emulator.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

const USER = 'ops';
const PASSWORD = 'board-Pa55word';
/** bull-board keeps failed jobs younger than this when cleaning a whole state (handlers/cleanAll.js). */
const CLEAN_GRACE_MS = 5_000;
const UNDELIVERED = ['active', 'waiting', 'delayed', 'prioritized'] as const;

describe('the board never deletes an undelivered event', () => {
  let bed: TestBed;
  let env: Record<string, string>;
  let board: string;
  let boardProcess: ManagedProcess;
  let metricsPort: number;
  let queue: Queue;
  /** Events the receiver holds without answering, by webhook-id. */
  const hang = new Set<string>();
  /** Events the receiver answers 500, by webhook-id. */
  const refuse = new Set<string>();

  const ids = (frames: EmittedFrame[]): string[] => frames.map((f) => eventId(f.event, f.id, f.data));

  /** A call as the board's page makes it: same origin, JSON, basic auth. */
  async function boardCall(method: 'PUT' | 'PATCH', path: string, body: unknown = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    const answer = await request(`${board}${path}`, {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
        origin: new URL(board).origin,
        referer: `${board}/queue/events`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    });
    const text = await answer.body.text();
    return { status: answer.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  async function undeliveredEventIds(): Promise<string[]> {
    return (await queuedEvents(queue, [...UNDELIVERED])).map((event) => event.id).sort();
  }

  async function stateOf(jobId: string): Promise<string> {
    return (await queue.getJob(jobId))?.getState() ?? 'gone';
  }

  before(async () => {
    bed = await startTestBed();
    env = bed.env({
      // A refused attempt waits an hour for its retry (the test promotes it), a second one dead-letters it.
      WEBHOOK_RETRY_ATTEMPTS: '2',
      WEBHOOK_RETRY_BASE_DELAY_MS: '3600000',
      WEBHOOK_RETRY_MAX_DELAY_MS: '3600000',
      WEBHOOK_OUTAGE_FAILURE_THRESHOLD: '10000',
      WEBHOOK_REQUEST_TIMEOUT_MS: '600000',
      CONNECTOR_CONSUMER_COUNT: '4',
    });
    bed.receiver.setFaults((r) => {
      const id = String(r.headers['webhook-id']);
      if (hang.has(id)) return { hang: true };
      return refuse.has(id) ? { status: 500 } : undefined;
    });
    await startProcess('ingester', env);
    await startProcess('dispatcher', env);
    const port = await freePort();
    metricsPort = await freePort();
    board = `http://127.0.0.1:${port}`;
    boardProcess = await startProcess('board', {
      ...env,
      BULL_BOARD_PORT: String(port),
      BULL_BOARD_USERNAME: USER,
      BULL_BOARD_PASSWORD: PASSWORD,
      METRICS_ENABLE: 'true',
      METRICS_ADDR: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
    });
    queue = new Queue(destinationKeys(env.CONNECTOR_ID!, DEFAULT_DESTINATION).queueName, { connection: bed.redis.client(), prefix: queuePrefix(env.CONNECTOR_ID!) });
  });

  after(async () => {
    await queue?.close();
    await bed?.close();
  });

  it('refuses empty, obliterate, clean and remove of active, delayed, waiting and prioritised jobs; every event is delivered afterwards', async () => {
    // Two events in flight to an endpoint that does not answer (active), four refused once (delayed for an hour).
    const inFlight = ids(bed.emulator.publishMany(6));
    for (const id of inFlight.slice(0, 2)) hang.add(id);
    for (const id of inFlight.slice(2)) refuse.add(id);
    await waitFor(async () => {
      const counts = await queue.getJobCounts('active', 'delayed');
      return counts.active === 2 && counts.delayed === 4;
    }, { timeoutMs: 20_000, what: '2 active and 4 delayed jobs' });

    const beforePause = boardProcess.logs.length;
    const paused = await boardCall('PUT', '/api/queues/events/pause');
    assert.equal(paused.status, 200);
    const pausedLine = await boardProcess.waitForLog((l) => l.msg === 'board.queue_paused', 5_000, 'board.queue_paused', beforePause);
    assert.equal(pausedLine.user, USER);
    assert.equal(pausedLine.destination, DEFAULT_DESTINATION);
    const record = JSON.parse((await bed.redis.client().get(destinationKeys(env.CONNECTOR_ID!, DEFAULT_DESTINATION).operatorPause)) ?? 'null') as { by: string; at: string; from: string } | null;
    assert.equal(record?.by, USER, 'the board pause is not recorded with its user');
    assert.equal(record?.from, 'board');
    assert.ok(Number.isFinite(Date.parse(record.at)));

    // A backlog queued while paused: packs of events, waiting.
    const backlog = ids(bed.emulator.publishMany(60));
    await waitFor(async () => (await queuedEvents(queue, ['waiting'])).length === 60, { timeoutMs: 20_000, what: '60 waiting events' });
    const waitingJobs = await queue.getJobs(['waiting']);
    const prioritised = waitingJobs[0]!;
    const waiting = waitingJobs.at(-1)!;
    assert.equal((await boardCall('PATCH', `/api/queues/events/${encodeURIComponent(prioritised.id!)}/priority`, { priority: 5 })).status, 200);
    assert.equal(await stateOf(prioritised.id!), 'prioritized');

    const everything = [...inFlight, ...backlog].sort();
    assert.deepEqual(await undeliveredEventIds(), everything);
    const refusals: Array<{ what: string; method: 'PUT'; path: string; body?: unknown }> = [
      { what: 'empty', method: 'PUT', path: '/api/queues/events/empty' },
      { what: 'obliterate (paused queue, forced)', method: 'PUT', path: '/api/queues/events/obliterate', body: { force: true } },
      ...['waiting', 'wait', 'paused', 'delayed', 'active', 'prioritized', 'waiting-children'].map((state) => ({
        what: `clean ${state}`,
        method: 'PUT' as const,
        path: `/api/queues/events/clean/${state}`,
      })),
      ...[
        ['active', inFlight[0]!],
        ['delayed', inFlight[2]!],
        ['waiting', waiting.id!],
        ['prioritised', prioritised.id!],
      ].map(([what, id]) => ({ what: `remove ${what} job`, method: 'PUT' as const, path: `/api/queues/events/${encodeURIComponent(id!)}/clean` })),
    ];
    assert.equal(await stateOf(inFlight[0]!), 'active');
    assert.equal(await stateOf(inFlight[2]!), 'delayed');
    assert.equal(await stateOf(waiting.id!), 'waiting');
    for (const { what, method, path, body } of refusals) {
      const answer = await boardCall(method, path, body);
      // BullMQ itself refuses to remove a job a worker holds; bull-board answers that 409.
      if (what === 'remove active job') assert.ok([405, 409].includes(answer.status), `${what}: HTTP ${answer.status}`);
      else {
        assert.equal(answer.status, 405, `${what}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
        assert.equal(answer.body.code, 'OWH_BOARD_REFUSED', what);
        assert.match(String(answer.body.message), /undelivered/, what);
      }
      assert.deepEqual(await undeliveredEventIds(), everything, `${what} deleted events`);
    }

    // The all-queues resume of the board clears the record and resumes.
    assert.equal((await boardCall('PUT', '/api/queues/resume')).status, 200);
    assert.equal(await bed.redis.client().exists(destinationKeys(env.CONNECTOR_ID!, DEFAULT_DESTINATION).operatorPause), 0, 'the resume left the operator pause recorded');
    assert.equal(await queue.isPaused(), false);

    hang.clear();
    refuse.clear();
    bed.receiver.releaseHung();
    // The refused events wait an hour for their retry: promoting them is allowed.
    await waitFor(async () => (await queue.getJobCounts('delayed')).delayed === 4, { timeoutMs: 10_000, what: '4 delayed jobs' });
    assert.equal((await boardCall('PUT', '/api/queues/events/promote')).status, 200);
    await bed.receiver.waitForIds(everything, 60_000);
  });

  it('discards dead letters, one or all, logging the board user and the event ids and counting them', async () => {
    const dead = ids(bed.emulator.publishMany(4));
    for (const id of dead) refuse.add(id);
    await waitFor(async () => (await queue.getJobCounts('delayed')).delayed === 4, { timeoutMs: 20_000, what: '4 refused events delayed' });
    assert.equal((await boardCall('PUT', '/api/queues/events/promote')).status, 200);
    const failedJobs = await waitFor(async () => {
      const jobs = await queue.getJobs(['failed']);
      return jobs.length === 4 ? jobs : undefined;
    }, { timeoutMs: 20_000, what: '4 dead letters' });
    assert.deepEqual(failedJobs.map((job) => job.id).sort(), [...dead].sort());

    const since = boardProcess.logs.length;
    const [one, ...rest] = dead;
    assert.equal((await boardCall('PUT', `/api/queues/events/${encodeURIComponent(one!)}/clean`)).status, 204);
    const single = await boardProcess.waitForLog((l) => l.msg === 'board.dead_letters_discarded', 5_000, 'board.dead_letters_discarded', since);
    assert.equal(single.user, USER);
    assert.equal(single.destination, DEFAULT_DESTINATION);
    assert.deepEqual(single.eventIds, [one]);

    // bull-board cleans only dead letters older than its grace period.
    await waitFor(async () => (await queue.getJobs(['failed'])).every((job) => Date.now() - job.finishedOn! > CLEAN_GRACE_MS), {
      timeoutMs: 20_000,
      intervalMs: 250,
      what: `dead letters older than ${CLEAN_GRACE_MS} ms`,
    });
    const afterSingle = boardProcess.logs.length;
    assert.equal((await boardCall('PUT', '/api/queues/events/clean/failed')).status, 200);
    const all = await boardProcess.waitForLog((l) => l.msg === 'board.dead_letters_discarded', 5_000, 'board.dead_letters_discarded', afterSingle);
    assert.equal(all.user, USER);
    assert.deepEqual([...(all.eventIds as string[])].sort(), [...rest].sort());
    assert.equal((await queue.getJobCounts('failed')).failed, 0);

    const metrics = await scrapeMetrics(metricsPort);
    assert.equal(metricValue(metrics, 'opencti_webhook_dead_letters_discarded_total{destination="default"}'), 4);
  });
});
