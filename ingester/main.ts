import { Queue } from 'bullmq';
import { createLogger } from '../shared/logger.js';
import { Lifecycle } from '../shared/lifecycle.js';
import { closeServer, startMetricsServer } from '../shared/metrics-server.js';
import { QUEUE_NAME, cursorKey, queuePrefix, type EventJob } from '../shared/queue.js';
import { Readiness } from '../shared/readiness.js';
import { redactUrl } from '../shared/redact.js';
import { createRedis } from '../shared/redis.js';
import { redisReadyCheck, registerRedisUpGauge } from '../shared/redis-health.js';
import { loadConfigOrExit } from '../shared/startup.js';
import { USER_AGENT } from '../shared/version.js';
import { IngesterConfigSchema, type IngesterConfig } from './config.js';
import { CursorStore } from './cursor-store.js';
import { Enqueuer } from './enqueuer.js';
import type { RawFrame } from './frame.js';
import { createFrameHandler } from './frame-handler.js';
import { IngesterMetrics } from './metrics.js';
import { QueueDepthGate } from './queue-depth-gate.js';
import { StreamClient } from './stream-client.js';
import { isStreamId, streamIdMs } from './stream-id.js';
import { StreamPosition, type CursorSnapshot } from './stream-position.js';

const config = loadConfigOrExit(IngesterConfigSchema, 'ingester');
const { connector, opencti } = config;
const logger = createLogger('ingester', connector.log_level);
const lifecycle = new Lifecycle(logger);
lifecycle.handleSignals();

const streamUrl = `${opencti.url.replace(/\/+$/, '')}/stream/${connector.live_stream_id}`;
logger.info(
  {
    connectorId: connector.id,
    stream: redactUrl(streamUrl),
    redis: redactUrl(config.redis.url),
    listenDelete: connector.live_stream_listen_delete,
    noDependencies: connector.live_stream_no_dependencies,
    withInferences: connector.live_stream_with_inferences,
    startTimestamp: connector.live_stream_start_timestamp,
    maxQueuedEvents: config.ingester.max_queued_events,
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
const position = new StreamPosition(stored?.snapshot ?? firstStartPosition(config));
logger.info(
  { resumeFrom: position.resumeFrom, source: stored ? 'redis' : connector.live_stream_start_timestamp !== undefined ? 'start_timestamp' : 'beginning' },
  'ingester.position_loaded',
);

const metrics = new IngesterMetrics(connector.name, () => enqueuer.backlog);
const enqueuer = new Enqueuer({
  queue,
  cursor,
  snapshot: () => position.snapshot(),
  logger,
  startCommit: stored?.commit ?? 0,
  onCommitted: (snapshot, batch, durationMs) => {
    metrics.committed(streamIdMs(snapshot.resumeFrom), batch.map(({ job }) => job.event), durationMs);
    if (batch.length > 0) logger.debug({ events: batch.length, resumeFrom: snapshot.resumeFrom, durationMs }, 'events.enqueued');
  },
  onLostWrites: (kept) => {
    const rewindTo = kept?.snapshot ?? firstStartPosition(config);
    logger.error(
      { lostFrom: position.resumeFrom, rewindTo: rewindTo.resumeFrom },
      'position.lost_writes: Redis lost its latest writes (restarted without persistence, or within its last fsync); reading the stream again from the position it kept',
    );
    metrics.positionRewound();
    // Both synchronous: no frame of the old connection can slip in between.
    position.rewind(rewindTo);
    stream.restart();
    enqueuer.positionChanged();
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
  url: streamUrl,
  headers: {
    authorization: `Bearer ${opencti.token}`,
    'listen-delete': String(connector.live_stream_listen_delete),
    'no-dependencies': String(connector.live_stream_no_dependencies),
    'with-inferences': String(connector.live_stream_with_inferences),
    'user-agent': USER_AGENT,
  },
  lastEventId: () => position.resumeFrom,
  onFrame: withLagTracking(createFrameHandler({ position, enqueuer, metrics, logger })),
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

/** pycti's first run: the configured start timestamp, else the beginning of the retained stream. */
function firstStartPosition(config: IngesterConfig): CursorSnapshot {
  const start = config.connector.live_stream_start_timestamp;
  return { resumeFrom: start === undefined ? '0-0' : `${start}-0`, openEventIds: [] };
}
