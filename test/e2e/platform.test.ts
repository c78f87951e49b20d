/**
 * The ingester and the OpenCTI platform: registration, pings carrying the
 * state, resets from the UI, migration from the Python connector, checks of
 * the live stream at start, frames that are not data. Doubles: the OpenCTI
 * emulator (stream and GraphQL), a throwaway redis-server; the ingester is
 * the real built process. Oracles: what the emulator received, the queue,
 * the ingester's logs and metrics.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { formatPyctiState } from '../../ingester/platform/connector-state.js';
import { cursorKey, QUEUE_NAME, queuePrefix, type EventJob } from '../../shared/queue/contract.js';
import { pipelineEnv } from '../helpers/factories.js';
import { freePort } from '../helpers/free-port.js';
import { metricValue, scrapeMetrics } from '../helpers/metrics.js';
import { PYCTI_CONNECTOR_INFO, pyctiRegisterInput } from '../helpers/platform-emulator.js';
import { queuedEvents } from '../helpers/queued-events.js';
import { runToExit, startProcess, stopAll, type LogLine } from '../helpers/processes.js';
import { RedisServer } from '../helpers/redis-server.js';
import { StreamEmulator, type StreamEmulatorOptions } from '../helpers/stream-emulator.js';
import { waitFor } from '../helpers/wait.js';


describe('platform: registration, pings, state, stream checks', () => {
  let redis: RedisServer;
  let emulator: StreamEmulator;
  const queues: Queue[] = [];

  before(async () => {
    redis = await RedisServer.start();
  });
  afterEach(async () => {
    await stopAll();
    await Promise.all(queues.splice(0).map((queue) => queue.close()));
    await emulator?.close();
  });
  after(() => redis?.stop());

  async function setup(options: StreamEmulatorOptions = {}, overrides: Record<string, string> = {}) {
    emulator = await StreamEmulator.start({ heartbeatIntervalMs: 200, ...options });
    const env = pipelineEnv({ redisUrl: redis.url, openctiUrl: emulator.url, webhookUrl: 'http://127.0.0.1:9/unused' }, overrides);
    const queue = new Queue<EventJob>(QUEUE_NAME, { connection: { url: redis.url }, prefix: queuePrefix(env.CONNECTOR_ID!) });
    queues.push(queue);
    // Events, not jobs: the ingester packs consecutive events into one job (INGESTER_EVENTS_PER_JOB).
    const events = async () => queuedEvents(queue, ['waiting']);
    const waitForEvents = (count: number, what: string) =>
      waitFor(async () => (await events()).length >= count, { timeoutMs: 15_000, what: `${count} events queued: ${what}` });
    return { env, id: env.CONNECTOR_ID!, events, waitForEvents };
  }

  const msgStartsWith = (prefix: string) => (line: LogLine) => String(line.msg).startsWith(prefix);
  /** A position in Redis, as a previous run would have left it. */
  const storePosition = (connectorId: string, resumeFrom: string) => redis.client().hset(cursorKey(connectorId), { resumeFrom, commit: '0' });

  it("registers with pycti's mutation, pings at once then every interval, and keeps the platform's state equal to the committed one", async () => {
    const { env, id, waitForEvents } = await setup(
      { heartbeatIntervalMs: 60_000 },
      { INGESTER_PING_INTERVAL_MS: '300', CONNECTOR_SCOPE: 'webhook, soar', CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE: '2020-01-01T00:00:00Z' },
    );
    emulator.publishMany(20);
    await startProcess('ingester', env);
    await waitForEvents(20, 'the backlog');
    await emulator.waitUntil(() => emulator.platform.requestsFor('pingConnector').length >= 5, 10_000, 'five pings');

    const registrations = emulator.platform.requestsFor('registerConnector');
    assert.equal(registrations.length, 1);
    const [registration] = registrations;
    assert.deepEqual(registration!.variables, { input: pyctiRegisterInput(id, 'Webhook test', ['webhook', 'soar']) });
    assert.match(registration!.query, /mutation RegisterConnector\(\$input: RegisterConnectorInput\)\s*\{\s*registerConnector\(input: \$input\)/);
    for (const field of ['connector_state', 'host', 'vhost', 'use_ssl', 'port', 'user', 'pass', 'listen_routing', 'push_exchange', 'connector_user_id']) {
      assert.match(registration!.query, new RegExp(`\\b${field}\\b`), field);
    }
    assert.equal(registration!.headers.authorization, 'Bearer emulator-token');

    const pings = emulator.platform.requestsFor('pingConnector');
    assert.match(pings[0]!.query, /mutation PingConnector\(\$id: ID!, \$state: String, \$connectorInfo: ConnectorInfoInput \)/);
    for (const ping of pings) {
      assert.deepEqual(Object.keys(ping.variables).sort(), ['connectorInfo', 'id', 'state']);
      assert.equal(ping.variables.id, id);
      assert.deepEqual(ping.variables.connectorInfo, PYCTI_CONNECTOR_INFO);
      assert.match(String(ping.variables.state), /^\{"start_from": "\d+-\d+", "recover_until": "2020-01-01T00:00:00Z"\}$/);
    }
    assert.ok(pings[0]!.at - registration!.at < 1_000, `first ping ${pings[0]!.at - registration!.at} ms after registration`);
    for (let i = 1; i < pings.length; i += 1) {
      const gap = pings[i]!.at - pings[i - 1]!.at;
      assert.ok(gap >= 250 && gap < 2_000, `ping ${i} came ${gap} ms after the previous one (interval 300 ms)`);
    }

    // The state OpenCTI holds is the committed cursor (recover_until included).
    const cursor = await redis.client().hgetall(cursorKey(id));
    assert.equal(cursor.recoverUntil, '2020-01-01T00:00:00Z');
    await waitFor(() => emulator.platform.connectors.get(id)?.connector_state === formatPyctiState({ startFrom: cursor.resumeFrom!, recoverUntil: '2020-01-01T00:00:00Z' }), {
      timeoutMs: 5_000,
      what: 'the platform state to equal the cursor in Redis',
    });
    assert.match(emulator.requests[0]!.path, /\?recover=2020-01-01T00:00:00Z$/);
  });

  it('notices a state reset done in OpenCTI at the next ping and reads again from the configured start', async () => {
    const { env, id, events, waitForEvents } = await setup({}, { INGESTER_PING_INTERVAL_MS: '200' });
    emulator.publishMany(30, (i) => ({ dependencies: i % 10 === 0 ? 1 : 0 }));
    const ingester = await startProcess('ingester', env);
    await waitForEvents(33, 'the first reading');
    const connections = emulator.acceptedConnections;
    emulator.platform.resetState(id);
    const reset = await ingester.waitForLog(msgStartsWith('position.reset'), 5_000, 'position.reset');
    assert.equal(reset.level, 40);
    assert.match(String(reset.hint), /reset in OpenCTI/);
    assert.equal(reset.resumeFrom, '0-0');
    await emulator.waitForConnections(connections + 1);
    assert.equal(emulator.requests.at(-1)!.lastEventId, '0-0');
    // Read again, the events are new deliveries: queued a second time, with new ids.
    await waitForEvents(66, 'the second reading');
    const queued = await events();
    assert.equal(queued.length, 66);
    assert.equal(new Set(queued.map((event) => event.id)).size, 66);
    assert.equal((await redis.client().hget(cursorKey(id), 'generation')), '1');
    // The next pings store the new position again.
    await waitFor(() => /^\{"start_from": "\d+-\d+"/.test(emulator.platform.connectors.get(id)?.connector_state ?? ''), { timeoutMs: 5_000, what: 'a state in the platform again' });

    // A connector deleted in the UI is registered again by the next ping.
    emulator.platform.connectors.delete(id);
    await ingester.waitForLog(msgStartsWith('platform.connector_missing'), 5_000, 'platform.connector_missing');
    await waitFor(() => (emulator.platform.connectors.get(id)?.connector_state ?? '').startsWith('{"start_from"'), { timeoutMs: 5_000, what: 'registered and pinged again' });
  });

  it("starts from the Python connector's state when Redis holds no position (legacy keys first)", async () => {
    const { env, id, events, waitForEvents } = await setup({}, { INGESTER_PING_INTERVAL_MS: '200' });
    const frames = emulator.publishMany(20);
    emulator.platform.seedConnector(id, JSON.stringify({ connectorLastEventId: frames[9]!.id, connectorStartTime: 'None', start_from: frames[2]!.id, recover_until: 'none' }));
    const ingester = await startProcess('ingester', env);
    await waitForEvents(10, 'the events after the stored position');
    const loaded = await ingester.waitForLog((line) => line.msg === 'ingester.position_loaded', 1_000, 'position_loaded');
    assert.equal(loaded.source, 'platform');
    assert.equal(emulator.requests[0]!.lastEventId, frames[9]!.id);
    assert.equal(emulator.requests[0]!.path, '/stream/live-stream-1');
    assert.deepEqual((await events()).map((event) => event.data.streamId).sort(), frames.slice(10).map((frame) => frame.id).sort());
    // The first ping writes the state in pycti's current format, without the legacy keys.
    await waitFor(() => emulator.platform.connectors.get(id)?.connector_state?.startsWith('{"start_from": ') === true, { timeoutMs: 5_000, what: 'a ping' });
  });

  it('exits 1 with a clear message for an unknown live stream or a rejected token, before registering', async () => {
    const { env } = await setup();
    for (const [override, pattern, code] of [
      [{ CONNECTOR_LIVE_STREAM_ID: 'no-such-stream' }, /^CONNECTOR_LIVE_STREAM_ID: OpenCTI has no live stream "no-such-stream" visible to the user of OPENCTI_TOKEN/, 'OWH_STREAM_UNKNOWN'],
      [{ OPENCTI_TOKEN: 'wrong-token' }, /^OpenCTI rejected OPENCTI_TOKEN/, 'OWH_TOKEN_REJECTED'],
    ] as const) {
      const result = await runToExit('ingester', { ...env, ...override }, 10_000);
      assert.equal(result.code, 1, result.stdout);
      const fatal = result.logs.filter((line) => line.level === 60);
      assert.equal(fatal.length, 1, result.stdout);
      assert.equal(fatal[0]!.msg, 'ingester.startup_failed');
      assert.match(String(fatal[0]!.hint), pattern);
      assert.equal(fatal[0]!.code, code);
      assert.doesNotMatch(result.stdout, /wrong-token/);
    }
    assert.equal(emulator.requests.length, 0, 'no stream request');
    assert.equal(emulator.platform.requestsFor('registerConnector').length, 0);
  });

  it('waits for a stopped stream, alive in OpenCTI meanwhile, and reads it once started', async () => {
    const { env, id, events, waitForEvents } = await setup({ streams: { 'live-stream-1': { live: false } } }, { INGESTER_PING_INTERVAL_MS: '200' });
    emulator.publishMany(10);
    const ingester = await startProcess('ingester', env, { waitForStart: false });
    const stopped = await ingester.waitForLog(msgStartsWith('stream.stopped'), 10_000, 'stream.stopped');
    assert.match(String(stopped.hint), /waiting for it to be started/);
    assert.equal(stopped.code, 'OWH_STREAM_STOPPED');
    await emulator.waitUntil(() => (emulator.platform.connectors.get(id)?.pings ?? 0) >= 2, 5_000, 'pings while waiting');
    assert.equal(emulator.requests.length, 0, 'no stream request while it is stopped');
    emulator.setLive('live-stream-1', true);
    await ingester.waitForLog((line) => line.msg === 'ingester.started', 10_000, 'ingester.started');
    await waitForEvents(10, 'the events once started');
    assert.equal((await events()).length, 10);
    assert.equal(ingester.logs.filter((line) => Number(line.level) >= 50).length, 0, 'no error logged');
  });

  it('streams from the Redis position while OpenCTI GraphQL is unreachable, and registers once it answers', async () => {
    const { env, id, waitForEvents } = await setup({}, { INGESTER_PING_INTERVAL_MS: '200' });
    emulator.publishMany(10);
    await storePosition(id, '0-0');
    emulator.platform.failNext(3, 'destroy');
    const ingester = await startProcess('ingester', env);
    emulator.publishMany(10);
    await waitForEvents(20, 'events while the platform is unreachable');
    const registered = await ingester.waitForLog((line) => line.msg === 'platform.registered', 10_000, 'platform.registered');
    const started = ingester.logs.findIndex((line) => line.msg === 'ingester.started');
    assert.ok(started >= 0 && started < ingester.logs.indexOf(registered), 'streaming did not wait for the registration');
    const failures = ingester.logs.filter(msgStartsWith('platform.registration_failed'));
    assert.equal(failures.length, 2);
    const attempts = emulator.platform.requestsFor('registerConnector');
    assert.equal(attempts.length, 3);
    assert.ok(attempts[1]!.at - attempts[0]!.at >= 750 && attempts[2]!.at - attempts[1]!.at >= 1_500, 'registration retries without backoff');
    await waitFor(() => (emulator.platform.connectors.get(id)?.connector_state ?? '').startsWith('{"start_from"'), { timeoutMs: 5_000, what: 'a ping' });
  });

  it('never queues consumer_metrics, no-recover or error frames; logs the last two and exposes the first as metrics', async () => {
    const port = await freePort();
    const values = { deliveryRate: 12.5, processingRate: 10, resolutionRate: 3, productionRate: 20, timeLag: 4.25, estimatedOutOfDepth: 3_600 };
    const { env, events, waitForEvents } = await setup({ consumerMetrics: values }, { METRICS_ENABLE: 'true', METRICS_ADDR: '127.0.0.1', METRICS_PORT: String(port) });
    emulator.publishMany(5);
    const ingester = await startProcess('ingester', env);
    await waitForEvents(5, 'events before');
    emulator.writeRaw('event: error\ndata: {"stream":"live-stream-1","message":"boom on the platform"}\n\n');
    emulator.writeRaw(`id: ${Date.now()}-0\nevent: no-recover\ndata: {"stream":"live-stream-1","message":"Recovery from history is disabled","resume_from":"5-0"}\n\n`);
    emulator.publishMany(5);
    await waitForEvents(10, 'events after');
    const error = await ingester.waitForLog(msgStartsWith('stream.platform_error'), 5_000, 'stream.platform_error');
    assert.equal(error.level, 40);
    assert.equal(error.platformMessage, 'boom on the platform');
    const noRecover = await ingester.waitForLog(msgStartsWith('stream.no_recover'), 5_000, 'stream.no_recover');
    assert.equal(noRecover.resumeFrom, '5-0');
    // consumer_metrics come with the heartbeats.
    const text = await waitFor(async () => {
      const scraped = await scrapeMetrics(port);
      return scraped.includes('opencti_webhook_platform_delivery_rate ') ? scraped : undefined;
    }, { timeoutMs: 5_000, what: 'consumer_metrics gauges' });
    assert.equal(metricValue(text, 'opencti_webhook_platform_delivery_rate'), 12.5);
    assert.equal(metricValue(text, 'opencti_webhook_platform_processing_rate'), 10);
    assert.equal(metricValue(text, 'opencti_webhook_platform_resolution_rate'), 3);
    assert.equal(metricValue(text, 'opencti_webhook_platform_production_rate'), 20);
    assert.equal(metricValue(text, 'opencti_webhook_platform_time_lag_seconds'), 4.25);
    assert.equal(metricValue(text, 'opencti_webhook_platform_estimated_out_of_depth_seconds'), 3_600);
    const queued = await events();
    assert.equal(queued.length, 10);
    assert.ok(queued.every((event) => event.name === 'create' && event.data.event === 'create'));
  });
});
