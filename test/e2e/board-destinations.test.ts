/**
 * The board with two destinations (`default`, the WEBHOOK_* one, and
 * `siem`): the board-only process, given only the destinations' names (no
 * webhook settings), shows one queue per destination labelled with its name;
 * a pause records the operator pause of that destination only, and the audit
 * lines and the discarded dead letters counter name the destination.
 * The events are queued by the test as the ingester queues them for each
 * destination (one job per event); a dispatcher dead-letters them.
 * Doubles: stream emulator (frames only), recording receiver answering 500,
 * throwaway redis-server; real dispatcher and board-only processes.
 * Oracles: the board's HTTP API, Redis, the board's log lines and metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { request } from 'undici';
import { destinationKeys, queuePrefix } from '../../shared/queue/contract.js';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';
import { startProcess, type ManagedProcess } from '../helpers/processes.js';
import { enqueueFrames } from '../helpers/queued-events.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

const USER = 'ops';
const PASSWORD = 'board-Pa55word';
const DESTINATIONS = ['default', 'siem'];

describe('the board shows one queue per destination', () => {
  let bed: TestBed;
  let connectorId: string;
  let board: string;
  let boardProcess: ManagedProcess;
  let metricsPort: number;
  let queues: Record<string, Queue>;

  /** A call as the board's page makes it: same origin, JSON, basic auth. */
  async function boardCall(method: 'GET' | 'PUT', path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const answer = await request(`${board}${path}`, {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
        origin: new URL(board).origin,
        'content-type': 'application/json',
      },
      ...(method === 'PUT' ? { body: '{}' } : {}),
    });
    const text = await answer.body.text();
    return { status: answer.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  before(async () => {
    bed = await startTestBed();
    const env = bed.env({
      WEBHOOK_RETRY_ATTEMPTS: '1',
      DESTINATIONS: 'siem',
      DESTINATION_SIEM_URL: `${bed.receiver.url}-siem`,
      DESTINATION_SIEM_RETRY_ATTEMPTS: '1',
    });
    connectorId = env.CONNECTOR_ID!;
    const redis = bed.redis.client();
    queues = Object.fromEntries(DESTINATIONS.map((name) => [name, new Queue(destinationKeys(connectorId, name).queueName, { connection: redis, prefix: queuePrefix(connectorId) })]));
    bed.receiver.setFaults(() => ({ status: 500 }));
    const port = await freePort();
    metricsPort = await freePort();
    board = `http://127.0.0.1:${port}`;
    // Names only: WEBHOOK_URL says `default` exists; no DESTINATION_SIEM_* setting, no OpenCTI settings.
    boardProcess = await startProcess('board', {
      CONNECTOR_ID: connectorId,
      CONNECTOR_NAME: 'Webhook test',
      REDIS_URL: env.REDIS_URL!,
      DESTINATIONS: 'siem',
      WEBHOOK_URL: 'https://not-read.example/hook',
      BULL_BOARD_PORT: String(port),
      BULL_BOARD_USERNAME: USER,
      BULL_BOARD_PASSWORD: PASSWORD,
      METRICS_ENABLE: 'true',
      METRICS_ADDR: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
    });
    await startProcess('dispatcher', env);
  });

  after(async () => {
    await Promise.all(Object.values(queues ?? {}).map((queue) => queue.close()));
    await bed?.close();
  });

  it('lists each destination\'s queue under the destination\'s name', async () => {
    const { status, body } = await boardCall('GET', '/api/queues');
    assert.equal(status, 200);
    const shown = (body.queues as Array<{ name: string; displayName?: string; description?: string }>).map(({ name, displayName, description }) => ({ name, displayName, description }));
    assert.deepEqual(shown.sort((a, b) => a.name.localeCompare(b.name)), [
      { name: 'events', displayName: 'default', description: 'OpenCTI live stream events of Webhook test for the destination default' },
      { name: 'events-siem', displayName: 'siem', description: 'OpenCTI live stream events of Webhook test for the destination siem' },
    ]);
    const configured = boardProcess.logs.find((line) => line.msg === 'board.configured');
    assert.deepEqual(configured?.destinations, DESTINATIONS);
  });

  it('records a pause for the paused destination only, and the resume clears it; both log lines name the destination', async () => {
    const siemPause = destinationKeys(connectorId, 'siem').operatorPause;
    const defaultPause = destinationKeys(connectorId, 'default').operatorPause;
    const since = boardProcess.logs.length;
    assert.equal((await boardCall('PUT', '/api/queues/events-siem/pause')).status, 200);
    const paused = await boardProcess.waitForLog((l) => l.msg === 'board.queue_paused', 5_000, 'board.queue_paused', since);
    assert.equal(paused.destination, 'siem');
    assert.equal(paused.user, USER);
    assert.equal((JSON.parse((await bed.redis.client().get(siemPause)) ?? 'null') as { by?: string } | null)?.by, USER);
    assert.equal(await bed.redis.client().exists(defaultPause), 0, 'the other destination was recorded paused');
    assert.deepEqual(await Promise.all(DESTINATIONS.map((name) => queues[name]!.isPaused())), [false, true]);

    const beforeResume = boardProcess.logs.length;
    assert.equal((await boardCall('PUT', '/api/queues/events-siem/resume')).status, 200);
    const resumed = await boardProcess.waitForLog((l) => l.msg === 'board.queue_resumed', 5_000, 'board.queue_resumed', beforeResume);
    assert.equal(resumed.destination, 'siem');
    assert.equal(await bed.redis.client().exists(siemPause), 0, 'the resume left the operator pause recorded');
    assert.equal(await queues.siem!.isPaused(), false);
  });

  it('discards a dead letter of one destination, naming it in the log line and the counter', async () => {
    const frames = bed.emulator.publishMany(1);
    const [ids] = await Promise.all(DESTINATIONS.map((name) => enqueueFrames(queues[name]!, frames)));
    const id = ids![0]!;
    await waitFor(async () => (await Promise.all(DESTINATIONS.map((name) => queues[name]!.getJobCounts('failed')))).every((c) => c.failed === 1), {
      timeoutMs: 15_000,
      what: 'the event dead-lettered by both destinations',
    });

    const since = boardProcess.logs.length;
    assert.equal((await boardCall('PUT', `/api/queues/events-siem/${encodeURIComponent(id)}/clean`)).status, 204);
    const discarded = await boardProcess.waitForLog((l) => l.msg === 'board.dead_letters_discarded', 5_000, 'board.dead_letters_discarded', since);
    assert.equal(discarded.destination, 'siem');
    assert.deepEqual(discarded.eventIds, [id]);
    assert.deepEqual(await Promise.all(DESTINATIONS.map((name) => queues[name]!.getJobState(id))), ['failed', 'unknown'], 'the other destination\'s dead letter is kept');

    const metrics = await scrapeMetrics(metricsPort);
    assert.equal(metricValue(metrics, 'opencti_webhook_dead_letters_discarded_total{destination="siem"}'), 1);
    assert.equal(metricValue(metrics, 'opencti_webhook_dead_letters_discarded_total{destination="default"}'), 0);
  });
});
