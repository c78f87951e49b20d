/**
 * Fault suite, the webhook side: outages, throttling, flaky and poison
 * answers, and the ingester's backpressure during a long outage.
 * Harness and oracles: see harness.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it, type TestContext } from 'node:test';
import { describeReport, Pipeline } from './harness.js';
import { queuedEvents } from '../helpers/queued-events.js';
import { createRng } from '../helpers/stix-fixtures.js';
import { waitFor } from '../helpers/wait.js';

let pipeline: Pipeline | undefined;
afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
});

async function start(t: TestContext, env: Record<string, string> = {}, dispatchers = 2): Promise<Pipeline> {
  pipeline = await Pipeline.start({ env });
  await pipeline.spawn('ingester');
  for (let i = 0; i < dispatchers; i += 1) await pipeline.spawn('dispatcher');
  t.diagnostic(`connector ${pipeline.env.CONNECTOR_ID}`);
  return pipeline;
}

describe('endpoint faults', () => {
  it('an endpoint answering 503 for a long stretch pauses every dispatcher, is probed gently, and gets everything afterwards', async (t) => {
    const p = await start(t);
    const { receiver } = p.bed;
    let outage = false;
    receiver.setFaults(() => (outage ? { status: 503 } : undefined));
    let outageEnded = 0;
    let requestsDuringOutage = 0;
    await p.publishDuring(3_000, 15, async () => {
      await receiver.waitForCount(500, 30_000);
      outage = true;
      const before = receiver.requests.length;
      await waitFor(() => p.running('dispatcher').every((d) => d.logs.some((l) => l.msg === 'endpoint.paused' || l.msg === 'endpoint.probing')) || undefined, {
        timeoutMs: 20_000,
        what: 'the dispatchers to notice the outage',
      }).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 8_000)); // the outage itself: a fault window, not a wait for a condition
      requestsDuringOutage = receiver.requests.length - before;
      outage = false;
      outageEnded = Date.now();
    });
    const report = await p.expectAllDelivered();
    report.recoverMs = Date.now() - outageEnded;
    t.diagnostic(`503 outage of 8 s: ${describeReport(report)}, requests during the outage ${requestsDuringOutage}`);
    // Without the pause, 40 concurrent deliveries retrying every 100 ms–1 s would send thousands.
    assert.ok(requestsDuringOutage < 150, `${requestsDuringOutage} requests hammered the failing endpoint`);
    const logs = p.running('dispatcher').flatMap((d) => d.logs);
    assert.ok(logs.some((l) => l.msg === 'endpoint.paused'));
    assert.ok(logs.some((l) => l.msg === 'endpoint.resumed'));
  });

  it('401 on every event is an endpoint outage: nothing is dead-lettered, everything arrives once fixed', async (t) => {
    const p = await start(t, { WEBHOOK_RETRY_ATTEMPTS: '2' });
    const { receiver } = p.bed;
    let misconfigured = true;
    receiver.setFaults(() => (misconfigured ? { status: 401, body: '{"error":"bad token"}' } : undefined));
    await p.publishDuring(1_000, 20, async () => {
      await waitFor(() => p.running('dispatcher').some((d) => d.logs.some((l) => l.msg === 'endpoint.paused')) || undefined, {
        timeoutMs: 30_000,
        what: 'the refusals to pause delivery',
      });
      await new Promise((resolve) => setTimeout(resolve, 3_000)); // keep refusing while probes run: a fault window
      misconfigured = false;
    });
    const report = await p.expectAllDelivered({ failedAllowed: 0 });
    t.diagnostic(`401 outage: ${describeReport(report)}`);
    assert.ok(receiver.requests.some((r) => r.status === 401), 'the fault was not injected');
  });

  it('a 429 storm with Retry-After is waited out, not hammered', async (t) => {
    const p = await start(t, { WEBHOOK_PROBE_MAX_DELAY_MS: '5000' }, 1);
    const { receiver } = p.bed;
    let storm = false;
    receiver.setFaults(() => (storm ? { status: 429, headers: { 'retry-after': '2' } } : undefined));
    let stormRequests = 0;
    await p.publishDuring(2_000, 20, async () => {
      await receiver.waitForCount(300, 30_000);
      storm = true;
      const before = receiver.requests.length;
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      stormRequests = receiver.requests.length - before;
      storm = false;
    });
    const report = await p.expectAllDelivered();
    t.diagnostic(`429 storm of 4 s with Retry-After 2: ${describeReport(report)}, requests during the storm ${stormRequests}`);
    // The 20 in flight when it starts, up to 10 more fetched before the 10th
    // consecutive failure pauses the queue, then about one probe per Retry-After (2 s).
    assert.ok(stormRequests <= 20 + 10 + 6, `${stormRequests} requests during the storm`);
  });

  it('30 % random 500s: every event arrives, none is dead-lettered', async (t) => {
    const p = await start(t);
    const random = createRng('random 500s'); // seeded: a failing run can be replayed
    p.bed.receiver.setFaults(() => (random() < 0.3 ? { status: 500 } : undefined));
    await p.publishDuring(3_000, 30, async () => undefined);
    const report = await p.expectAllDelivered({ failedAllowed: 0 });
    t.diagnostic(`30 % random 500s: ${describeReport(report)}`);
    assert.ok(report.requests > report.emitted * 1.2, 'the faults were not injected');
  });

  it('poison events go to the failed set with their last status and never block the others', async (t) => {
    const p = await start(t, { WEBHOOK_RETRY_ATTEMPTS: '4' });
    const poisonIds = new Set<string>();
    p.bed.receiver.setFaults((request) => {
      const id = String(request.headers['x-opencti-event-id']);
      if (!poisonIds.has(id)) return undefined;
      return id === [...poisonIds][0] ? { status: 500, body: 'database exploded' } : { status: 422, body: '{"error":"unsupported entity"}' };
    });
    await p.publishDuring(2_000, 20, async () => {
      await waitFor(() => p.bed.emulator.mainFrames().length >= 500 || undefined, { timeoutMs: 10_000, what: '500 events published' });
      for (const frame of p.bed.emulator.publishMany(2)) poisonIds.add(frame.id);
    });
    const report = await p.expectAllDelivered({ failedAllowed: 2, undeliverable: (id) => poisonIds.has(id) });
    t.diagnostic(`2 poison events among ${report.emitted}: ${describeReport(report)}`);
    const failed = await p.queue.getJobs(['failed']);
    const reasons = failed.map((job) => job.failedReason).sort();
    assert.deepEqual(reasons, ['webhook refused the event: HTTP 422: {"error":"unsupported entity"}', 'webhook: HTTP 500: database exploded']);
    const [exhausted] = failed.filter((job) => job.failedReason.includes('500'));
    assert.equal(exhausted!.attemptsMade, 4);
  });

  it('during a long outage the ingester stops reading above the high mark and the platform keeps the rest', async (t) => {
    const p = await start(t, { INGESTER_MAX_QUEUED_EVENTS: '300' }, 1);
    const { receiver, emulator } = p.bed;
    let outage = true;
    receiver.setFaults(() => (outage ? { status: 503 } : undefined));
    let maxDepth = 0;
    // 10 KB events: 30 MB, more than loopback socket buffers hold, so the platform has to keep some.
    await p.publishDuring(3_000, 30, async () => {
      const ingester = p.running('ingester')[0]!;
      await ingester.waitForLog((line) => String(line.msg).startsWith('stream.paused'), 30_000, 'the ingester to pause reading');
      await waitFor(() => emulator.mainFrames().length >= 3_000 || undefined, { timeoutMs: 30_000, what: 'all events published' });
      for (let i = 0; i < 10; i += 1) {
        // Events, not jobs: a pack holds several.
        maxDepth = Math.max(maxDepth, (await queuedEvents(p.queue, ['waiting', 'delayed', 'prioritized', 'active'])).length);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(emulator.sentFrames().length < 3_000, 'the ingester kept reading everything');
      outage = false;
    }, () => ({ size: 10_000 }));
    const report = await p.expectAllDelivered();
    t.diagnostic(`outage with 3,000 events and a high mark of 300: ${describeReport(report)}, deepest queue ${maxDepth}`);
    // The mark plus what one read chunk holds: the reader estimates the depth between two reads of it.
    assert.ok(maxDepth <= 400, `queue grew to ${maxDepth}`);
    assert.ok(p.running('ingester')[0]!.logs.some((l) => l.msg === 'stream.resumed'));
  });
});
