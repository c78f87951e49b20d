/**
 * The operator CLI against a live queue: events dead-lettered by a webhook
 * answering 500 with WEBHOOK_RETRY_ATTEMPTS=1 are listed, replayed (same
 * webhook-id) and delivered; history is purged. Doubles: stream emulator,
 * recording receiver, throwaway redis-server; real ingester, dispatcher and
 * CLI processes. Oracles: CLI output and exit codes, the receiver's records.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { PACK_JOB_NAME, QUEUE_NAME, endpointKey, queuePrefix } from '../../shared/queue/contract.js';
import { runCliInProcess as runCli, runCliJson, runCliProcess } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { startProcess, type ManagedProcess } from '../helpers/processes.js';
import { queuedEvents } from '../helpers/queued-events.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

interface Status {
  connectorId: string;
  queue: Record<string, number | boolean>;
  stream: { position: string; positionAt: string; ageSeconds: number } | null;
  endpoint: { state: string };
  lastDelivery: { at: string; ageSeconds: number } | null;
  ordering: string | null;
}
interface Failed {
  total: number;
  events: Array<{ id: string; event: string; streamId: string; attempts: number; failedReason: string; failedAt: string }>;
}
interface Replay {
  requested: number;
  replayed: number;
  results: Array<{ id: string; result: string; state?: string }>;
}

describe('operator CLI', () => {
  let bed: TestBed;
  let env: Record<string, string>;
  let cli: Record<string, string>;
  let failedIds: string[];
  /** Events first tried in a pack, and the packs (completed once their events left them). */
  let packedIds: Set<string>;
  let packs: number;
  let dispatcher: ManagedProcess;

  before(async () => {
    bed = await startTestBed();
    env = bed.env({ WEBHOOK_RETRY_ATTEMPTS: '1' });
    cli = { CONNECTOR_ID: env.CONNECTOR_ID!, REDIS_URL: env.REDIS_URL! };
    bed.receiver.setFaults(() => ({ status: 500 }));
    bed.emulator.publishMany(3, (i) => ({ event: (['create', 'update', 'delete'] as const)[i] }));
    await startProcess('ingester', env);
    dispatcher = await startProcess('dispatcher', env);
    const gaveUp = await waitFor(() => {
      const lines = dispatcher.logs.filter((line) => line.msg === 'delivery.gave_up');
      return lines.length === 3 ? lines : undefined;
    }, { timeoutMs: 15_000, what: '3 delivery.gave_up log lines' });
    failedIds = gaveUp.map((line) => String(line.jobId));
    // The ingester packs consecutive events into one job (INGESTER_EVENTS_PER_JOB, left at its
    // default): a packed event is tried once in its pack, then leaves it for a job of its own, which
    // gets the WEBHOOK_RETRY_ATTEMPTS and the dead letter; the pack completes, having delivered nothing.
    const queue = new Queue(QUEUE_NAME, { connection: bed.redis.client(), prefix: queuePrefix(cli.CONNECTOR_ID!) });
    await waitFor(async () => Object.values(await queue.getJobCounts('active', 'waiting', 'delayed')).every((n) => n === 0), { timeoutMs: 5_000, what: 'nothing left to run' });
    const completed = await queuedEvents(queue, ['completed']);
    await queue.close();
    const packed = completed.filter(({ job }) => job.name === PACK_JOB_NAME);
    packedIds = new Set(packed.map(({ id }) => id));
    packs = new Set(packed.map(({ job }) => job.id)).size;
  });
  after(() => bed?.close());

  it('status: counts by state, stream position and age, endpoint state, no delivery yet', async () => {
    const [status, text] = await Promise.all([runCliJson<Status>(['status'], cli), runCli(['status'], cli)]);
    assert.equal(status.connectorId, cli.CONNECTOR_ID);
    assert.equal(status.queue.failed, 3);
    assert.equal(status.queue.waiting, 0);
    assert.equal(status.queue.completed, packs, 'the packs the failed events left');
    assert.match(status.stream?.position ?? '', /^\d+-\d+$/);
    assert.ok((status.stream?.ageSeconds ?? -1) >= 0 && (status.stream?.ageSeconds ?? 99) < 60);
    assert.equal(status.endpoint.state, 'delivering');
    assert.equal(status.lastDelivery, null);
    assert.equal(status.ordering, 'none');
    assert.equal(text.code, 0);
    assert.match(text.stdout, /failed 3/);
    assert.match(text.stdout, /endpoint\s+delivering/);
  });

  it('failed: lists every dead-lettered event with its attempts and reason', async () => {
    const [failed, text] = await Promise.all([runCliJson<Failed>(['failed'], cli), runCli(['failed', '--limit', '2'], cli)]);
    assert.deepEqual(failed.events.map((e) => e.id).sort(), [...failedIds].sort());
    assert.deepEqual(failed.events.map((e) => e.event).sort(), ['create', 'delete', 'update']);
    for (const event of failed.events) {
      assert.equal(event.attempts, 1);
      assert.match(event.failedReason, /^webhook: HTTP 500/);
      assert.ok(!Number.isNaN(Date.parse(event.failedAt)));
      assert.ok(event.id.startsWith(`${event.streamId}-`), 'the id is the webhook-id');
    }
    assert.match(text.stdout, /2 of 3 failed events shown/);
  });

  it('replay: sends one, then all, again with the same webhook-id, and each is delivered once', async () => {
    bed.receiver.setFaults(undefined);
    const [first, ...rest] = failedIds;
    const one = await runCliJson<Replay>(['replay', first!], cli);
    assert.deepEqual(one.results, [{ id: first, result: 'replayed' }]);
    await bed.receiver.waitForIds([first!], 10_000);

    const all = await runCliJson<Replay>(['replay', '--all'], cli);
    assert.deepEqual(all.results.map((r) => r.id).sort(), [...rest].sort());
    await bed.receiver.waitForIds(failedIds, 10_000);
    for (const id of failedIds) assert.equal(bed.receiver.deliveredIds().get(id), 1, id);
    const sentAgain = bed.receiver.requests.filter((r) => r.headers['webhook-id'] === first);
    const failedBefore = packedIds.has(first!) ? [500, 500] : [500]; // in its pack, then its own attempt
    assert.deepEqual(sentAgain.map((r) => r.status), [...failedBefore, 200], 'the replayed request carries the original webhook-id');
    // Full retry budget: the attempt counter started over, so one attempt since the replay, not two.
    const queue = new Queue(QUEUE_NAME, { connection: bed.redis.client(), prefix: queuePrefix(cli.CONNECTOR_ID!) });
    const jobs = await waitFor(async () => {
      const found = await Promise.all(failedIds.map((id) => queue.getJob(id)));
      return found.every((job) => job?.finishedOn) ? found : undefined;
    }, { timeoutMs: 2_000, what: 'replayed jobs to be completed' });
    assert.deepEqual(jobs.map((job) => job?.attemptsMade), [1, 1, 1]);
    await queue.close();
  });

  it('replay: reports ids it could not replay and exits 1, still replaying the others', async () => {
    const [result, text] = await Promise.all([runCliJson<Replay>(['replay', failedIds[0]!, 'no-such-id'], cli, 1), runCli(['replay', 'no-such-id'], cli)]);
    assert.deepEqual(result.results.map((r) => r.result), ['not_failed', 'not_found']);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /no-such-id: no such event/);
  });

  it('status shows the last delivery and the endpoint outage state the dispatchers share', async () => {
    // A live dispatcher would act on the outage state written below (pause the queue, probe).
    await dispatcher.kill('SIGTERM');
    const redis = bed.redis.client();
    const openedAt = Date.UTC(2025, 0, 1);
    await redis.hset(endpointKey(cli.CONNECTOR_ID!), { state: 'open', openedAt: String(openedAt), probeAt: String(openedAt + 60_000), backoffMs: '60000', reason: 'HTTP 503' });
    const status = await runCliJson<Status & { endpoint: Record<string, string> }>(['status'], cli);
    assert.deepEqual(status.endpoint, {
      state: 'paused',
      sharedState: 'open',
      openedAt: '2025-01-01T00:00:00.000Z',
      probeAt: '2025-01-01T00:01:00.000Z',
      backoffMs: '60000',
      reason: 'HTTP 503',
    });
    assert.equal(status.queue.failed, 0);
    assert.ok(status.lastDelivery && status.lastDelivery.ageSeconds < 60);
    await redis.del(endpointKey(cli.CONNECTOR_ID!));
  });

  it('purge: removes the delivered history only', async () => {
    const { removed } = await runCliJson<{ removed: number }>(['purge'], cli);
    // The 3 replayed events, and the packs they were first queued in.
    assert.equal(removed, 3 + packs);
    const status = await runCliJson<Status>(['status'], cli);
    assert.equal(status.queue.completed, 0);
  });

  it('exits 1 when Redis is unreachable and 2 on a usage or configuration error, saying why on stderr', async () => {
    const closedPort = await freePort();
    const [unreachable, usage, config] = await Promise.all([
      runCli(['status'], { ...cli, REDIS_URL: `redis://127.0.0.1:${closedPort}` }),
      runCli(['replay'], cli),
      runCli(['status'], { REDIS_URL: cli.REDIS_URL! }),
    ]);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /Usage: npm run cli/);
    assert.equal(config.code, 2);
    assert.match(config.stderr, /CONNECTOR_ID \(connector\.id\) is required/);
  });

  // Each process run is a Node.js start (~0.5 s): only what the process wiring adds.
  it('as a process, writes the report to stdout and sets the exit code', async () => {
    const [ok, failed] = await Promise.all([runCliProcess(['status'], cli), runCliProcess(['replay', 'no-such-id'], cli)]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^connector\s+/);
    assert.equal(ok.stderr, '');
    assert.equal(failed.code, 1);
  });
});
