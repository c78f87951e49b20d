/**
 * The operator CLI against live queues of two destinations (`default`, the
 * WEBHOOK_* one, and `siem`): events dead-lettered by a webhook answering
 * 500 with RETRY_ATTEMPTS=1 are listed per destination, replayed on one
 * destination (same webhook-id) and delivered there only; history is purged
 * one destination at a time. A destination removed from DESTINATIONS stays
 * reachable while its queue remains.
 * The events are queued by the test as the ingester queues them for each
 * destination (one job per event), with the stream position and ordering
 * modes it records: the CLI reads queues, not the stream.
 * Doubles: stream emulator (frames only), recording receiver, throwaway
 * redis-server; real dispatcher and CLI processes.
 * Oracles: CLI output and exit codes, the receiver's records, the queues.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { cursorKey, destinationKeys, queuePrefix } from '../../shared/queue/contract.js';
import { runCliInProcess as runCli, runCliJson, runCliProcess } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { startProcess, type ManagedProcess } from '../helpers/processes.js';
import { enqueueFrames } from '../helpers/queued-events.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

interface DestinationStatus {
  name: string;
  configured: boolean;
  queue: Record<string, number | boolean>;
  endpoint: Record<string, string>;
  lastDelivery: { at: string; ageSeconds: number } | null;
  ordering: string | null;
}
interface Status {
  connectorId: string;
  stream: { position: string; positionAt: string; ageSeconds: number } | null;
  destinations: DestinationStatus[];
}
interface Failed {
  total: number;
  shown: number;
  events: Array<{ destination: string; id: string; event: string; streamId: string; attempts: number; failedReason: string; failedAt: string }>;
}
interface Replay {
  destination: string;
  requested: number;
  replayed: number;
  results: Array<{ id: string; result: string; state?: string }>;
}

const DESTINATIONS = ['default', 'siem'];

describe('operator CLI', () => {
  let bed: TestBed;
  let cli: Record<string, string>;
  let connectorId: string;
  let queues: Record<string, Queue>;
  /** The same events, queued for both destinations: the same job ids in each queue. */
  let failedIds: string[];
  let position: string;
  let dispatcher: ManagedProcess;

  const siemRequests = () => bed.receiver.requests.filter((r) => r.path === '/webhook-siem');

  before(async () => {
    bed = await startTestBed();
    const env = bed.env({
      WEBHOOK_RETRY_ATTEMPTS: '1',
      DESTINATIONS: 'siem',
      DESTINATION_SIEM_URL: `${bed.receiver.url}-siem`,
      DESTINATION_SIEM_RETRY_ATTEMPTS: '1',
      DESTINATION_SIEM_RETRY_BASE_DELAY_MS: '50',
      DESTINATION_SIEM_RETRY_MAX_DELAY_MS: '500',
    });
    connectorId = env.CONNECTOR_ID!;
    // What the CLI needs: the connector, Redis, and the destinations' names (WEBHOOK_URL set: `default` exists).
    cli = { CONNECTOR_ID: connectorId, REDIS_URL: env.REDIS_URL!, DESTINATIONS: 'siem', WEBHOOK_URL: env.WEBHOOK_URL! };
    const redis = bed.redis.client();
    queues = Object.fromEntries(DESTINATIONS.map((name) => [name, new Queue(destinationKeys(connectorId, name).queueName, { connection: redis, prefix: queuePrefix(connectorId) })]));
    const frames = bed.emulator.publishMany(3, (i) => ({ event: (['create', 'update', 'delete'] as const)[i] }));
    const [defaultIds, siemIds] = await Promise.all(DESTINATIONS.map((name) => enqueueFrames(queues[name]!, frames)));
    assert.deepEqual(siemIds, defaultIds);
    failedIds = defaultIds!;
    position = frames.at(-1)!.id;
    await redis.hset(cursorKey(connectorId), { resumeFrom: position });
    await redis.set(destinationKeys(connectorId, 'default').ordering, 'none');
    await redis.set(destinationKeys(connectorId, 'siem').ordering, 'entity');

    bed.receiver.setFaults(() => ({ status: 500 }));
    dispatcher = await startProcess('dispatcher', env);
    await waitFor(async () => {
      const counts = await Promise.all(DESTINATIONS.map((name) => queues[name]!.getJobCounts('failed', 'waiting', 'active', 'delayed')));
      return counts.every((c) => c.failed === 3 && (c.waiting ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) === 0);
    }, { timeoutMs: 15_000, what: '3 dead letters in each destination' });
  });
  after(async () => {
    await Promise.all(Object.values(queues ?? {}).map((queue) => queue.close()));
    await bed?.close();
  });

  it('status: the stream position, then per destination its counts, endpoint state and ordering mode', async () => {
    const [status, text] = await Promise.all([runCliJson<Status>(['status'], cli), runCli(['status'], cli)]);
    assert.equal(status.connectorId, connectorId);
    assert.equal(status.stream?.position, position);
    assert.ok((status.stream?.ageSeconds ?? -1) >= 0 && (status.stream?.ageSeconds ?? 99) < 60);
    assert.deepEqual(status.destinations.map((d) => d.name), DESTINATIONS);
    for (const destination of status.destinations) {
      assert.equal(destination.configured, true);
      assert.equal(destination.queue.failed, 3, destination.name);
      assert.equal(destination.queue.waiting, 0, destination.name);
      assert.equal(destination.queue.paused, false, destination.name);
      assert.deepEqual(destination.endpoint, { state: 'delivering' }, destination.name);
      assert.equal(destination.lastDelivery, null, destination.name);
    }
    assert.deepEqual(status.destinations.map((d) => d.ordering), ['none', 'entity']);
    assert.equal(text.code, 0);
    assert.equal(text.stderr, '');
    assert.match(text.stdout, /^connector\s+\S+\nstream\s+\d+-\d+, /);
    assert.match(text.stdout, /\n\ndestination\s+default\nqueue jobs\s+waiting 0, .*failed 3, .*\nendpoint\s+delivering\nlast delivery\s+none in the kept history\nordering\s+none\n/);
    assert.match(text.stdout, /\n\ndestination\s+siem\nqueue jobs\s+.*failed 3.*\nendpoint\s+delivering\n.*\nordering\s+per entity \(DESTINATION_SIEM_ORDERING=entity\)\n$/);

    const one = await runCliJson<Status>(['status', '--destination', 'siem'], cli);
    assert.deepEqual(one.destinations.map((d) => d.name), ['siem']);
    assert.equal(one.stream?.position, position, 'the stream position is the connector\'s');
  });

  it('failed: lists every destination\'s dead letters, labelled, or one destination\'s', async () => {
    const [all, siem, text] = await Promise.all([
      runCliJson<Failed>(['failed'], cli),
      runCliJson<Failed>(['failed', '--destination', 'siem'], cli),
      runCli(['failed', '--limit', '2'], cli),
    ]);
    assert.equal(all.total, 6);
    assert.deepEqual(all.events.map((e) => `${e.destination} ${e.id}`).sort(), DESTINATIONS.flatMap((name) => failedIds.map((id) => `${name} ${id}`)).sort());
    for (const event of all.events) {
      assert.equal(event.attempts, 1);
      assert.match(event.failedReason, /^webhook: HTTP 500/);
      assert.ok(!Number.isNaN(Date.parse(event.failedAt)));
      assert.ok(event.id.startsWith(`${event.streamId}-`), 'the id is the webhook-id');
    }
    const failedAt = all.events.map((e) => Date.parse(e.failedAt));
    assert.deepEqual(failedAt, [...failedAt].sort((a, b) => b - a), 'newest first across destinations');
    assert.equal(siem.total, 3);
    assert.deepEqual(siem.events.map((e) => e.destination), ['siem', 'siem', 'siem']);
    assert.match(text.stdout, /^DESTINATION\s+ID\s+EVENT/);
    assert.match(text.stdout, /2 of 6 failed events shown/);
  });

  it('replay: refused without --destination while two destinations are configured, naming them', async () => {
    const refused = await runCli(['replay', '--all'], cli);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /replay needs --destination <name> when several destinations are configured \(configured: default, siem\)/);
    assert.equal((await queues.siem!.getJobCounts('failed')).failed, 3, 'nothing was replayed');
  });

  it('replay on a named destination: sends one, then all, again there only, with the same webhook-id and a full budget', async () => {
    bed.receiver.setFaults(undefined);
    const [first, ...rest] = failedIds;
    const one = await runCliJson<Replay>(['replay', '--destination', 'siem', first!], cli);
    assert.deepEqual(one, { destination: 'siem', requested: 1, replayed: 1, results: [{ id: first, result: 'replayed' }] });
    await bed.receiver.waitForIds([first!], 10_000);

    const all = await runCliJson<Replay>(['replay', '--destination=siem', '--all'], cli);
    assert.deepEqual(all.results.map((r) => r.id).sort(), [...rest].sort());
    await bed.receiver.waitForIds(failedIds, 10_000);
    for (const id of failedIds) {
      const sent = siemRequests().filter((r) => r.headers['webhook-id'] === id);
      assert.deepEqual(sent.map((r) => r.status), [500, 200], `${id}: the replayed request carries the original webhook-id`);
    }
    // Full retry budget: the attempt counter started over, so one attempt since the replay, not two.
    await waitFor(async () => (await Promise.all(failedIds.map((id) => queues.siem!.getJobState(id)))).every((state) => state === 'completed'), {
      timeoutMs: 5_000,
      what: 'replayed jobs to be completed',
    });
    const jobs = await Promise.all(failedIds.map((id) => queues.siem!.getJob(id)));
    assert.deepEqual(jobs.map((job) => job?.attemptsMade), [1, 1, 1]);
    // The other destination's dead letters are untouched, and it got nothing again.
    assert.equal((await queues.default!.getJobCounts('failed')).failed, 3);
    assert.equal(bed.receiver.requests.filter((r) => r.path === '/webhook' && r.status === 200).length, 0);
  });

  it('replay: reports ids it could not replay and exits 1, still replaying the others', async () => {
    const [result, text] = await Promise.all([
      runCliJson<Replay>(['replay', '--destination', 'siem', failedIds[0]!, 'no-such-id'], cli, 1),
      runCli(['replay', '--destination', 'siem', 'no-such-id'], cli),
    ]);
    assert.deepEqual(result.results.map((r) => r.result), ['not_failed', 'not_found']);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /no-such-id: no such event/);
  });

  it('status shows each destination\'s last delivery and its own endpoint outage state', async () => {
    // A live dispatcher would act on the outage state written below (pause the queue, probe).
    await dispatcher.kill('SIGTERM');
    const redis = bed.redis.client();
    const openedAt = Date.UTC(2025, 0, 1);
    const endpoint = destinationKeys(connectorId, 'siem').endpoint;
    await redis.hset(endpoint, { state: 'open', openedAt: String(openedAt), probeAt: String(openedAt + 60_000), backoffMs: '60000', reason: 'HTTP 503' });
    const status = await runCliJson<Status>(['status'], cli);
    const [byDefault, siem] = status.destinations;
    assert.deepEqual(siem?.endpoint, {
      state: 'paused',
      sharedState: 'open',
      openedAt: '2025-01-01T00:00:00.000Z',
      probeAt: '2025-01-01T00:01:00.000Z',
      backoffMs: '60000',
      reason: 'HTTP 503',
    });
    assert.deepEqual(byDefault?.endpoint, { state: 'delivering' });
    assert.equal(siem?.queue.failed, 0);
    assert.ok(siem?.lastDelivery && siem.lastDelivery.ageSeconds < 60);
    assert.equal(byDefault?.lastDelivery, null);
    await redis.del(endpoint);
  });

  it('purge: refused without --destination, naming the flag and the destinations; with it, removes that destination\'s delivered history only', async () => {
    const refused = await runCli(['purge'], cli);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /purge needs --destination <name>.*\(configured: default, siem\)/);
    assert.equal((await queues.siem!.getJobCounts('completed')).completed, 3, 'the refused purge removed history');

    const purged = await runCliJson<{ destination: string; removed: number }>(['purge', '--destination', 'siem'], cli);
    assert.deepEqual(purged, { destination: 'siem', removed: 3 });
    assert.equal((await queues.siem!.getJobCounts('completed')).completed, 0);
    assert.equal((await queues.default!.getJobCounts('failed')).failed, 3, 'nothing undelivered is touched');
  });

  it('an unknown destination is a usage error naming the configured ones, and leaves nothing in Redis', async () => {
    const run = await runCli(['status', '--destination', 'sime'], cli);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown destination "sime": configured destinations are default, siem/);
    const unknownQueue = `${queuePrefix(connectorId)}:${destinationKeys(connectorId, 'sime').queueName}`;
    assert.deepEqual(await bed.redis.client().keys(`${unknownQueue}*`), []);
  });

  it('a destination removed from DESTINATIONS is still reachable by name while its queue remains, with a warning', async () => {
    const withoutSiem = { ...cli, DESTINATIONS: '' };
    const all = await runCliJson<Status>(['status'], withoutSiem);
    assert.deepEqual(all.destinations.map((d) => d.name), ['default']);
    const [status, failed] = await Promise.all([runCli(['status', '--destination', 'siem', '--json'], withoutSiem), runCli(['failed', '--destination', 'siem'], withoutSiem)]);
    assert.equal(status.code, 0);
    assert.match(status.stderr, /warning: destination "siem" is not configured/);
    const [siem] = (JSON.parse(status.stdout) as Status).destinations;
    assert.equal(siem?.name, 'siem');
    assert.equal(siem?.configured, false);
    assert.equal(failed.code, 0);
    assert.match(failed.stderr, /warning: destination "siem" is not configured/);
    assert.match(failed.stdout, /no failed events \(siem\)/);
  });

  it('exits 1 when Redis is unreachable and 2 on a usage or configuration error, saying why on stderr', async () => {
    const closedPort = await freePort();
    const [unreachable, usage, config] = await Promise.all([
      runCli(['status'], { ...cli, REDIS_URL: `redis://127.0.0.1:${closedPort}` }),
      runCli(['replay'], cli),
      runCli(['status'], { REDIS_URL: cli.REDIS_URL!, DESTINATIONS: 'Bad_Name' }),
    ]);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /Usage: npm run cli/);
    assert.equal(config.code, 2);
    assert.match(config.stderr, /CONNECTOR_ID \(connector\.id\) is required/);
    assert.match(config.stderr, /DESTINATIONS \(destinations\) is not valid/);
  });

  // Each process run is a Node.js start (~0.5 s): only what the process wiring adds.
  it('as a process, writes the report to stdout and sets the exit code', async () => {
    const [ok, failed] = await Promise.all([runCliProcess(['status'], cli), runCliProcess(['replay', '--destination', 'siem', 'no-such-id'], cli)]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^connector\s+/);
    assert.equal(ok.stderr, '');
    assert.equal(failed.code, 1);
  });
});
