/**
 * Isolation between destinations, with the real processes: destination A is
 * slow (10 s answers), rate-limited, or refuses events with 400, while B (and
 * the default destination) keep getting every event meanwhile; A loses
 * nothing its refusal rules do not dead-letter, and what A refuses stays in
 * A's queue. And DISPATCHER_DESTINATIONS: each dispatcher delivers only the
 * destinations it serves. Waits are bounded; the only timing checks are "B
 * got everything while A still had not".
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { destinationKeys, queuePrefix } from '../../shared/queue/contract.js';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';
import { startProcess } from '../helpers/processes.js';
import { pendingEvents, queuedEvents } from '../helpers/queued-events.js';
import { RecordingReceiver } from '../helpers/recording-receiver.js';
import type { EntityKind } from '../helpers/stix-fixtures.js';
import type { EmittedFrame } from '../helpers/stream-emulator.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

const KINDS: EntityKind[] = ['indicator', 'malware', 'report', 'identity', 'relationship'];
const sorted = (bodies: readonly string[]) => [...bodies].sort();
const bodies = (receiver: RecordingReceiver): string[] => sorted(receiver.delivered().map((request) => request.body));
const distinctBodies = (receiver: RecordingReceiver): string[] => sorted([...new Set(receiver.delivered().map((request) => request.body))]);
const datas = (frames: readonly EmittedFrame[]) => sorted(frames.map((frame) => frame.data));

let bed: TestBed;
let a: RecordingReceiver;
let b: RecordingReceiver;
beforeEach(async () => {
  bed = await startTestBed();
  [a, b] = await Promise.all([RecordingReceiver.start(), RecordingReceiver.start()]);
});
afterEach(async () => {
  // The bed kills the processes first, then a hung or slow receiver can close.
  await bed?.close();
  await Promise.all([a?.close(), b?.close()]);
});

/** The connector's environment with destinations A and B besides the default (the bed's receiver). */
function envWith(overrides: Record<string, string> = {}): Record<string, string> {
  return bed.env({ DESTINATIONS: 'a,b', DESTINATION_A_URL: a.url, DESTINATION_B_URL: b.url, ...overrides });
}

async function startPipeline(env: Record<string, string>): Promise<void> {
  await startProcess('ingester', env);
  await startProcess('dispatcher', env);
}

/** Waits until B and the default destination got exactly `frames`, and checks A had not yet got `a` of them. */
async function othersGetEverything(frames: readonly EmittedFrame[], what: string, timeoutMs: number): Promise<void> {
  await waitFor(() => (b.delivered().length >= frames.length && bed.receiver.delivered().length >= frames.length ? true : undefined), { timeoutMs, what });
  assert.deepEqual(bodies(b), datas(frames), 'B got each event once');
  assert.deepEqual(bodies(bed.receiver), datas(frames), 'the default destination got each event once');
}

function queueOf(env: Record<string, string>, destination: string): Queue {
  return new Queue(destinationKeys(env.CONNECTOR_ID!, destination).queueName, { connection: bed.redis.client(), prefix: queuePrefix(env.CONNECTOR_ID!) });
}

async function breakerState(env: Record<string, string>, destination: string): Promise<string | null> {
  return bed.redis.client().hget(destinationKeys(env.CONNECTOR_ID!, destination).endpoint, 'state');
}

describe('a slow destination', () => {
  it('answering in 10 s takes no delivery slot of the others: B gets a whole burst before A answers once', async () => {
    a.setFaults(() => ({ delayMs: 10_000 }));
    const env = envWith({ DESTINATION_A_REQUEST_TIMEOUT_MS: '20000', DESTINATION_A_CONSUMER_COUNT: '20', CONNECTOR_CONSUMER_COUNT: '4', INGESTER_EVENTS_PER_JOB: '1' });
    await startPipeline(env);
    const frames = bed.emulator.publishMany(20, (i) => ({ entityType: KINDS[i % 5] }));
    await waitFor(() => (a.requests.length > 0 ? true : undefined), { timeoutMs: 15_000, what: 'A to get its first request' });
    await othersGetEverything(frames, 'B and default to get the burst while A is slow', 8_000);
    assert.equal(a.delivered().length, 0, "B got everything before A's first answer");
    // A loses nothing: every event arrives, 10 s late.
    await waitFor(() => (distinctBodies(a).length >= frames.length ? true : undefined), { timeoutMs: 60_000, what: 'A to answer every event' });
    assert.deepEqual(distinctBodies(a), datas(frames));
  });
});

describe('a rate-limited destination', () => {
  it('at 2 requests per second holds nothing up for B', async () => {
    const env = envWith({ DESTINATION_A_RATE_LIMIT_PER_SECOND: '2' });
    await startPipeline(env);
    const frames = bed.emulator.publishMany(30, (i) => ({ entityType: KINDS[i % 5] }));
    await othersGetEverything(frames, 'B and default to get every event while A is rate-limited', 8_000);
    assert.ok(a.requests.length < frames.length / 2, `A got ${a.requests.length} of ${frames.length} requests while B got them all`);
    await waitFor(() => (distinctBodies(a).length >= frames.length ? true : undefined), { timeoutMs: 60_000, what: 'A to get every event at its own pace' });
    assert.deepEqual(distinctBodies(a), datas(frames));
    assert.equal(a.requests.length, frames.length, 'the rate limit caused no failed attempt');
  });
});

describe('a refusing destination', () => {
  it('answering 400 to every event from the start is paused as an outage, keeps its events, and touches nothing of B', async () => {
    a.setFaults(() => ({ status: 400, body: '{"error":"bad request"}' }));
    const env = envWith({
      DESTINATION_A_OUTAGE_FAILURE_THRESHOLD: '3',
      DESTINATION_A_PROBE_INITIAL_DELAY_MS: '200',
      DESTINATION_A_PROBE_MAX_DELAY_MS: '500',
      DESTINATION_A_RETRY_ATTEMPTS: '2',
    });
    await startPipeline(env);
    const first = bed.emulator.publishMany(20, (i) => ({ entityType: KINDS[i % 5] }));
    await waitFor(async () => ((await breakerState(env, 'a')) === 'open' ? true : undefined), { timeoutMs: 20_000, what: "A's breaker to open (nothing proves A works: its refusals count as an outage)" });
    const second = bed.emulator.publishMany(20, (i) => ({ entityType: KINDS[i % 5] }));
    await othersGetEverything([...first, ...second], 'B and default to get every event while A refuses', 20_000);
    assert.equal(a.delivered().length, 0);
    assert.equal(await breakerState(env, 'b'), null, "B's breaker never opened");
    assert.equal(await breakerState(env, 'default'), null);

    // A's events wait in A's queue: nothing dead-lettered, nothing of A in B's queue.
    const [queueA, queueB] = [queueOf(env, 'a'), queueOf(env, 'b')];
    try {
      assert.equal((await queuedEvents(queueA, ['failed'])).length, 0, 'an endpoint that refuses everything is down, not a source of dead letters');
      const held = await pendingEvents(queueA, ['waiting', 'delayed', 'active', 'prioritized']);
      assert.deepEqual(sorted(held.map((event) => event.data.body)), datas([...first, ...second]));
      assert.equal((await queuedEvents(queueB, ['failed', 'waiting', 'delayed', 'active', 'prioritized'])).length, 0);
      assert.equal((await queuedEvents(queueB, ['completed'])).length, first.length + second.length);
    } finally {
      await Promise.all([queueA.close(), queueB.close()]);
    }

    // Once A accepts again, it gets every event.
    a.setFaults(undefined);
    await waitFor(() => (distinctBodies(a).length >= first.length + second.length ? true : undefined), { timeoutMs: 30_000, what: 'A to get every event once it accepts' });
    assert.deepEqual(distinctBodies(a), datas([...first, ...second]));
  });

  it("refusing some events while it accepts others dead-letters them in A's failed set only", async () => {
    // A refuses indicators; it accepts everything else, which proves the refusals are the events' fault.
    a.setFaults((request) => (request.body.includes('"type":"indicator"') ? { status: 400, body: '{"error":"unsupported"}' } : undefined));
    const env = envWith({ DESTINATION_A_RETRY_ATTEMPTS: '2' });
    await startPipeline(env);
    const frames = bed.emulator.publishMany(30, (i) => ({ entityType: KINDS[i % 5] }));
    const refused = frames.filter((frame) => frame.data.includes('"type":"indicator"'));
    assert.ok(refused.length > 0 && refused.length < frames.length);
    await othersGetEverything(frames, 'B and default to get every event, the ones A refuses included', 20_000);

    const [queueA, queueB] = [queueOf(env, 'a'), queueOf(env, 'b')];
    try {
      await waitFor(async () => ((await queuedEvents(queueA, ['failed'])).length >= refused.length ? true : undefined), { timeoutMs: 30_000, what: "A's refused events to reach A's failed set" });
      assert.deepEqual(sorted((await queuedEvents(queueA, ['failed'])).map((event) => event.data.body)), datas(refused));
      assert.equal((await queuedEvents(queueB, ['failed'])).length, 0, "B's failed set stays empty");
    } finally {
      await Promise.all([queueA.close(), queueB.close()]);
    }
    // Once each, but for the witness: a refused event retried after every other event had been
    // answered (a pack's events go out side by side, so this is the usual case) finds no 2xx since
    // its first refusal, and the witness sends an event A accepted before again (decision 007).
    const accepted = datas(frames.filter((frame) => !refused.includes(frame)));
    assert.deepEqual(distinctBodies(a), accepted, 'A got the others');
    assert.ok(bodies(a).length - accepted.length <= refused.length, `A got ${bodies(a).length - accepted.length} accepted events again, more than one witness probe per refused event`);
    assert.equal(await breakerState(env, 'a'), null, 'refusals that are the events\' fault never pause A');
  });
});

describe('DISPATCHER_DESTINATIONS', () => {
  it('makes each dispatcher deliver only the destinations it serves', async () => {
    // No default destination: every destination is served by exactly one dispatcher.
    const env = envWith({ WEBHOOK_URL: '', METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1' });
    const [ingesterPort, portA, portB] = [await freePort(), await freePort(), await freePort()];
    await startProcess('ingester', { ...env, METRICS_PORT: String(ingesterPort) });
    await startProcess('dispatcher', { ...env, METRICS_PORT: String(portA), DISPATCHER_DESTINATIONS: 'a', DISPATCHER_WORKER_NAME: 'dispatcher-a' });
    await startProcess('dispatcher', { ...env, METRICS_PORT: String(portB), DISPATCHER_DESTINATIONS: 'b', DISPATCHER_WORKER_NAME: 'dispatcher-b' });
    const frames = bed.emulator.publishMany(30, (i) => ({ event: i % 3 === 2 ? 'update' : 'create', entityType: KINDS[i % 5] }));
    await waitFor(() => (a.delivered().length >= frames.length && b.delivered().length >= frames.length ? true : undefined), { timeoutMs: 30_000, what: 'A and B to get every event' });
    assert.deepEqual(bodies(a), datas(frames));
    assert.deepEqual(bodies(b), datas(frames));
    assert.equal(bed.receiver.requests.length, 0, 'no default destination');

    const delivered = (text: string, destination: string) =>
      ['create', 'update'].reduce((sum, action) => sum + metricValue(text, `processed_messages_total{name="Webhook test",action="${action}",destination="${destination}"}`), 0);
    const [textA, textB] = await Promise.all([scrapeMetrics(portA), scrapeMetrics(portB)]);
    assert.deepEqual([delivered(textA, 'a'), delivered(textA, 'b')], [frames.length, 0], 'the dispatcher serving A delivered A only');
    assert.deepEqual([delivered(textB, 'a'), delivered(textB, 'b')], [0, frames.length], 'the dispatcher serving B delivered B only');
    assert.doesNotMatch(textA, /destination="b"/, 'the dispatcher serving A has nothing of B');
    assert.doesNotMatch(textB, /destination="a"/, 'the dispatcher serving B has nothing of A');
  });
});
