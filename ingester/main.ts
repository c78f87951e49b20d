import { Queue } from 'bullmq';
import { createLogger } from '../shared/logger.js';
import { Lifecycle } from '../shared/lifecycle.js';
import { closeServer, startMetricsServer } from '../shared/metrics-server.js';
import { QUEUE_NAME, cursorKey, orderingModeKey, queuePrefix, type EventJob } from '../shared/queue.js';
import { Readiness } from '../shared/readiness.js';
import { redactUrl } from '../shared/redact.js';
import { createRedis } from '../shared/redis.js';
import { redisReadyCheck, registerRedisUpGauge } from '../shared/redis-health.js';
import { stixIdOf } from '../shared/stix-id.js';
import { exitOnConfigError, loadConfigOrExit } from '../shared/startup.js';
import { USER_AGENT } from '../shared/version.js';
import { IngesterConfigSchema } from './config.js';
import { formatPyctiState } from './connector-state.js';
import { ConnectorPresence } from './connector-presence.js';
import { CursorStore, type Cursor, type ReadingSettings } from './cursor-store.js';
import { Enqueuer } from './enqueuer.js';
import type { RawFrame } from './frame.js';
import { createFrameHandler } from './frame-handler.js';
import { IngesterMetrics } from './metrics.js';
import { OpenctiApi } from './opencti-api.js';
import { PlatformFrames } from './platform-frames.js';
import { configuredProxy, createPlatformDispatcher, platformTls } from './platform-http.js';
import { QueueDepthGate } from './queue-depth-gate.js';
import { chooseStart, configuredStart, type StartSettings } from './start-point.js';
import { checkLiveStream, StartupError, waitUntilStarted } from './stream-check.js';
import { StreamClient } from './stream-client.js';
import { isStreamId, streamIdMs } from './stream-id.js';
import { StreamPosition } from './stream-position.js';

const config = loadConfigOrExit(IngesterConfigSchema, 'ingester');
const { connector, opencti } = config;
const logger = createLogger('ingester', connector.log_level);
const lifecycle = new Lifecycle(logger);
lifecycle.handleSignals();

// One dispatcher (TLS settings, HTTP(S)_PROXY) for the stream and GraphQL.
const platformHttp = createPlatformDispatcher(exitOnConfigError('ingester', () => platformTls(opencti)));
lifecycle.onShutdown('platform-http', () => platformHttp.close());
const platformUrl = opencti.url.replace(/\/+$/, '');
const streamBaseUrl = `${platformUrl}/stream/${connector.live_stream_id}`;
const startSettings: StartSettings = {
  startTimestamp: connector.live_stream_start_timestamp,
  recoverIsoDate: connector.live_stream_recover_iso_date,
};
logger.info(
  {
    connectorId: connector.id,
    stream: redactUrl(streamBaseUrl),
    redis: redactUrl(config.redis.url),
    listenDelete: connector.live_stream_listen_delete,
    noDependencies: connector.live_stream_no_dependencies,
    withInferences: connector.live_stream_with_inferences,
    startTimestamp: connector.live_stream_start_timestamp,
    recoverIsoDate: connector.live_stream_recover_iso_date ?? 'now',
    sslVerify: opencti.ssl_verify !== false,
    caFiles: [opencti.ssl_verify, opencti.ca_file].filter((file) => typeof file === 'string'),
    proxy: configuredProxy(platformUrl) ?? false,
    noProxy: process.env.no_proxy ?? process.env.NO_PROXY,
    pingIntervalMs: config.ingester.ping_interval_ms,
    maxQueuedEvents: config.ingester.max_queued_events,
    ordering: config.webhook.ordering,
    metrics: config.metrics.enable ? `${config.metrics.addr}:${config.metrics.port}` : false,
    tokenConfigured: true,
  },
  'ingester.configured',
);

const redis = createRedis(config.redis.url, 'ingester', logger);
lifecycle.onShutdown('redis', () => redis.quit());
const queue = new Queue<EventJob>(QUEUE_NAME, { connection: redis, prefix: queuePrefix(connector.id) });
lifecycle.onShutdown('queue', () => queue.close());

const cursor = new CursorStore(redis, cursorKey(connector.id));
const stored = await cursor.load();
// For the dispatchers' consistency check only: each event carries its own mode.
redis.set(orderingModeKey(connector.id), config.webhook.ordering).catch((error: Error) => logger.warn({ err: { message: error.message } }, 'ordering.mode_not_recorded'));

// The platform: stream check, registration, pings (reference §6, §7).
const api = new OpenctiApi({ url: platformUrl, token: opencti.token, dispatcher: platformHttp, userAgent: USER_AGENT });
const startup = new AbortController();
lifecycle.onShutdown('startup', () => startup.abort());
const streamCheck = await checkLiveStream({ api, streamId: connector.live_stream_id, logger, signal: startup.signal }).catch(exitOrShutDown);
const presence = new ConnectorPresence({
  api,
  connector: { id: connector.id, name: connector.name, scope: connector.scope.split(',').map((scope) => scope.trim()).filter(Boolean) },
  pingIntervalMs: config.ingester.ping_interval_ms,
  state: () => formatPyctiState({ startFrom: committed.resumeFrom, recoverUntil: committed.recoverUntil }),
  onReset: () => {
    const to = configuredStart(startSettings, Date.now(), reading.generation + 1);
    logger.warn(
      { from: committed.resumeFrom, resumeFrom: to.resumeFrom, recoverUntil: to.recoverUntil, generation: to.generation },
      'position.reset: the connector state was reset in OpenCTI; reading the stream again from the configured start (CONNECTOR_LIVE_STREAM_START_TIMESTAMP, CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE)',
    );
    readFrom(to);
  },
  logger,
});
lifecycle.onShutdown('platform', () => presence.stop());
const registration = presence.register();
// Without a cursor in Redis, the platform's state decides where to start
// (the Python connector's position carries over): wait for its answer. With
// one, reading starts now and registration goes on in the background.
if (!stored) logger.info('position.none_stored: no position in Redis yet; asking OpenCTI for the connector state');
const answer = stored ? undefined : await registration;
const start = chooseStart(stored, answer && 'state' in answer ? answer.state : undefined, startSettings, Date.now());
/** Read with the position; changed only by a rewind. */
let reading: ReadingSettings = { recoverUntil: start.cursor.recoverUntil, generation: start.cursor.generation };
/** The cursor Redis holds: what pings report. */
let committed: Cursor = start.cursor;
const position = new StreamPosition(start.cursor);
logger.info({ resumeFrom: position.resumeFrom, recoverUntil: reading.recoverUntil, generation: reading.generation, source: start.source }, 'ingester.position_loaded');

const metrics = new IngesterMetrics(connector.name, () => enqueuer.backlog);
const enqueuer = new Enqueuer({
  queue,
  cursor,
  snapshot: () => ({ ...position.snapshot(), ...reading }),
  logger,
  startCommit: stored?.commit ?? 0,
  onCommitted: (snapshot, batch, durationMs) => {
    committed = snapshot;
    metrics.committed(streamIdMs(snapshot.resumeFrom), batch.map(({ job }) => job.event), durationMs);
    if (batch.length > 0) logger.debug({ events: batch.length, resumeFrom: snapshot.resumeFrom, durationMs }, 'events.enqueued');
  },
  onLostWrites: (kept) => {
    const rewindTo = kept?.cursor ?? configuredStart(startSettings, Date.now(), reading.generation);
    logger.error(
      { lostFrom: position.resumeFrom, rewindTo: rewindTo.resumeFrom },
      'position.lost_writes: Redis lost its latest writes (restarted without persistence, or within its last fsync); reading the stream again from the position it kept',
    );
    readFrom(rewindTo);
  },
});
const gate = new QueueDepthGate(
  queue,
  logger,
  { highWaterMark: config.ingester.max_queued_events, lowWaterMark: Math.floor(config.ingester.max_queued_events * 0.8) },
  (closed) => metrics.backpressure(closed),
);

// Health: /readyz (Redis ready and stream connected) and opencti_webhook_redis_up.
const readiness = new Readiness();
registerRedisUpGauge(metrics.registry, redis);

if (config.metrics.enable) {
  const server = await startMetricsServer({ host: config.metrics.addr, port: config.metrics.port, registry: metrics.registry, ready: () => readiness.status() });
  lifecycle.onShutdown('metrics-server', () => closeServer(server));
}
lifecycle.onShutdown('enqueuer', () => enqueuer.flushed(), connector.shutdown_timeout_ms);

const stream = new StreamClient({
  // pycti sends the same ?recover= on every connection; the date is normalised, nothing to escape.
  url: () => (reading.recoverUntil === false ? streamBaseUrl : `${streamBaseUrl}?recover=${reading.recoverUntil}`),
  dispatcher: platformHttp,
  headers: {
    authorization: `Bearer ${opencti.token}`,
    'listen-delete': String(connector.live_stream_listen_delete),
    'no-dependencies': String(connector.live_stream_no_dependencies),
    'with-inferences': String(connector.live_stream_with_inferences),
    'user-agent': USER_AGENT,
  },
  lastEventId: () => position.resumeFrom,
  onFrame: withLagTracking(
    createFrameHandler({
      position,
      enqueuer,
      metrics,
      platformFrames: new PlatformFrames(metrics.registry, logger),
      generation: () => reading.generation,
      entityOf: config.webhook.ordering === 'entity' ? stixIdOf : undefined,
      logger,
    }),
  ),
  waitForCapacity: async () => {
    await enqueuer.waitForCapacity();
    await gate.waitForRoom();
  },
  onConnected: () => metrics.connected(),
  onDisconnected: (reason) => metrics.disconnected(reason),
  logger,
});
lifecycle.onShutdown('stream', () => {
  gate.stop();
  return stream.stop();
});
presence.startPinging();
if (streamCheck === 'stopped') await waitUntilStarted({ api, streamId: connector.live_stream_id, logger, signal: startup.signal }).catch(exitOrShutDown);
stream.start();
readiness.require(redisReadyCheck(redis));
readiness.require(() => (stream.connected ? undefined : 'stream not connected'));
readiness.started();
logger.info('ingester.started');

/** Feeds opencti_webhook_stream_lag_seconds with every id read, before the frame is handled. */
function withLagTracking(handle: (frame: RawFrame) => void): (frame: RawFrame) => void {
  return (frame) => {
    if (isStreamId(frame.id)) metrics.idSeen(streamIdMs(frame.id));
    handle(frame);
  };
}

/**
 * Reads the stream again from `to`: after Redis lost writes, or a state reset
 * in OpenCTI. All synchronous: no frame of the old connection slips in, and
 * the next commit writes the new cursor.
 */
function readFrom(to: Cursor): void {
  metrics.positionRewound();
  position.rewind(to);
  reading = { recoverUntil: to.recoverUntil, generation: to.generation };
  stream.restart();
  enqueuer.positionChanged();
}

/** A startup check failed for good: one fatal line, exit 1. Aborted by a shutdown: wait for it to exit. */
function exitOrShutDown(error: unknown): Promise<never> {
  if (error instanceof StartupError) {
    logger.fatal(error.message);
    process.exit(1);
  }
  if (startup.signal.aborted) return new Promise<never>(() => undefined);
  throw error;
}
