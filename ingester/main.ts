import '../shared/process/runtime.js'; // first: refuses an unsupported Node.js before any dependency loads
import { installProcessGuard } from '../shared/process/guard.js';
import { createLogger } from '../shared/observability/logger.js';
import { Lifecycle } from '../shared/process/lifecycle.js';
import { closeServer, startMetricsServer } from '../shared/observability/metrics-server.js';
import { cursorKey, destinationKeys } from '../shared/queue/contract.js';
import { Readiness } from '../shared/observability/readiness.js';
import { redactUrl } from '../shared/observability/redact.js';
import { createRedis, describeRedis } from '../shared/redis/client.js';
import { redisReadyCheck, registerRedisUpGauge } from '../shared/redis/health.js';
import { exitOnConfigError, loadProcessConfig } from '../shared/process/startup.js';
import { loadProxySettings } from '../shared/config/load.js';
import { describeProxy } from '../shared/net/proxy.js';
import { exitOnVersionFlag, USER_AGENT } from '../shared/process/version.js';
import { loadIngesterConfig } from './config.js';
import { CursorStore } from './position/cursor-store.js';
import { LeaderTerm } from './leadership/leader-term.js';
import { Leadership } from './leadership/leadership.js';
import { Lease, leaseKey, termFence, termKey } from './leadership/lease.js';
import { IngesterMetrics } from './metrics.js';
import { OpenctiApi } from './platform/opencti-api.js';
import { PlatformFrames } from './stream/platform-frames.js';
import { readRedisMemory } from './backpressure/redis-memory.js';
import { createPlatformDispatcher, platformTls } from './platform/http.js';
import type { StartSettings } from './position/start-point.js';
import { Router } from './routing/router.js';
import { openDestinationQueues } from './routing/routes.js';
import { startFilterExpressions } from './routing/filter-expressions.js';
import { checkLiveStream, StartupError, waitUntilStarted } from './stream/check.js';
import { liveStreamUrl } from './stream/request.js';

exitOnVersionFlag();
const guard = installProcessGuard('ingester');
const config = loadProcessConfig('ingester', () => loadIngesterConfig());
const proxy = loadProxySettings();
const { connector, opencti } = config;
const logger = createLogger('ingester', connector.log_level);
const lifecycle = new Lifecycle(logger);
lifecycle.handleSignals();

// One dispatcher (TLS settings, HTTP(S)_PROXY) for the stream and GraphQL.
const platformHttp = createPlatformDispatcher(exitOnConfigError('ingester', () => platformTls(opencti)), proxy);
lifecycle.onShutdown('platform-http', () => platformHttp.close());
const platformUrl = opencti.url.replace(/\/+$/, '');
const streamBaseUrl = liveStreamUrl(config);
const startSettings: StartSettings = {
  startTimestamp: connector.live_stream_start_timestamp,
  recoverIsoDate: connector.live_stream_recover_iso_date,
};
logger.info(
  {
    connectorId: connector.id,
    stream: redactUrl(streamBaseUrl),
    redis: describeRedis(config.redis),
    listenDelete: connector.live_stream_listen_delete,
    noDependencies: connector.live_stream_no_dependencies,
    withInferences: connector.live_stream_with_inferences,
    startTimestamp: connector.live_stream_start_timestamp,
    recoverIsoDate: connector.live_stream_recover_iso_date ?? 'now',
    sslVerify: opencti.ssl_verify !== false,
    caFiles: [opencti.ssl_verify, opencti.ca_file].filter((file) => typeof file === 'string'),
    proxy: describeProxy(platformUrl, proxy),
    ...(proxy.noProxy ? { noProxy: proxy.noProxy } : {}),
    pingIntervalMs: config.ingester.ping_interval_ms,
    maxQueuedEvents: config.ingester.max_queued_events,
    eventsPerJob: config.ingester.events_per_job,
    leaseTtlMs: config.ingester.lease_ttl_ms,
    destinations: config.destinations.map(({ name, settings }) => ({
      name,
      ordering: settings.ordering,
      eventTypes: settings.event_types,
      entityTypes: settings.entity_types,
      markingsExclude: settings.markings_exclude,
      filter: settings.filter !== undefined,
    })),
    metrics: config.metrics.enable ? `${config.metrics.addr}:${config.metrics.port}` : false,
    tokenConfigured: true,
  },
  'ingester.configured',
);

const redis = createRedis(config.redis, 'ingester', logger);
lifecycle.onShutdown('redis', () => redis.quit());
// Commits have a connection of their own: each one WATCHes the leadership
// term (see leadership/lease.ts), and WATCH holds for a whole connection, so no other
// command (BullMQ's, the lease's) may share it.
const commitRedis = createRedis(config.redis, 'ingester-commits', logger);
lifecycle.onShutdown('redis-commits', () => commitRedis.quit());
const destinationQueues = openDestinationQueues(config.destinations, connector.id, { main: redis, commits: commitRedis }, logger);
lifecycle.onShutdown('queues', () => destinationQueues.close());
const filterExpressions = startFilterExpressions(config.destinations);
if (filterExpressions) lifecycle.onShutdown('filter-expressions', () => filterExpressions.close());
const cursor = new CursorStore(redis, cursorKey(connector.id));
// For the dispatchers' consistency check only: each event carries its own mode.
for (const { name, settings } of config.destinations) {
  redis.set(destinationKeys(connector.id, name).ordering, settings.ordering).catch((error: Error) => logger.warn({ destination: name, err: { message: error.message } }, 'ordering.mode_not_recorded'));
}

// The platform: stream check at start (a standby too: bad settings fail fast); registration and pings by the leader.
const api = new OpenctiApi({ url: platformUrl, token: opencti.token, dispatcher: platformHttp, userAgent: USER_AGENT });
const startup = new AbortController();
lifecycle.onShutdown('startup', () => startup.abort());
let streamCheck = await checkLiveStream({ api, streamId: connector.live_stream_id, logger, signal: startup.signal }).catch(exitOrShutDown);

let term: LeaderTerm | undefined;
const metrics = new IngesterMetrics(connector.name, () => term?.backlog ?? 0, config.destinations.map(({ name }) => name));
registerRedisUpGauge(metrics.registry, redis);
const platformFrames = new PlatformFrames(metrics.registry, logger);

// Several ingesters may run for one connector: the holder of the lease reads, the others stand by.
const termKeyName = termKey(connector.id);
const lease = new Lease(redis, { lease: leaseKey(connector.id), term: termKeyName }, config.ingester.lease_ttl_ms);
const leadership = new Leadership({
  lease,
  logger,
  registry: metrics.registry,
  lead: async (current, { ended, fenced }) => {
    term = new LeaderTerm({
      config,
      logger,
      metrics,
      platformFrames,
      api,
      platformHttp,
      streamBaseUrl,
      startSettings,
      cursor,
      queueDepth: destinationQueues.depth,
      redisMemory: () => readRedisMemory(redis),
      router: new Router({
        routes: destinationQueues.routes,
        expressions: filterExpressions,
        onFiltered: (destination, reason, count) => metrics.filtered(destination, reason, count),
        logger,
      }),
      fence: termFence(commitRedis, termKeyName, lease, current),
      onFenced: fenced,
      streamStarted: async (signal) => {
        if (streamCheck !== 'stopped') return;
        await waitUntilStarted({ api, streamId: connector.live_stream_id, logger, signal: AbortSignal.any([signal, startup.signal]) }).catch(
          // The term ended while waiting: nothing to report, the term returns unstarted.
          (error: unknown) => (signal.aborted ? undefined : exitOrShutDown(error)),
        );
        streamCheck = 'live';
      },
    });
    await term.start(ended);
    if (!ended.aborted) announceStarted();
  },
  stepDown: async (end) => {
    await term?.stop(end === 'shutdown');
    term = undefined;
  },
  onStandby: () => announceStarted(),
  crash: guard.crash,
});

// Health: /readyz (Redis ready, and the stream connected unless standby) and opencti_webhook_redis_up.
// A standby is ready: it is doing its job, and an orchestrator must keep it.
const readiness = new Readiness();
readiness.require(redisReadyCheck(redis));
readiness.require(() => (leadership.role === 'leader' && !term?.connected ? 'stream not connected' : undefined));
if (config.metrics.enable) {
  const server = await startMetricsServer({
    host: config.metrics.addr,
    port: config.metrics.port,
    registry: metrics.registry,
    ready: () => ({ ...readiness.status(), role: leadership.role }),
  });
  lifecycle.onShutdown('metrics-server', () => closeServer(server));
}
// Last registered, first run: stop reading, commit what was read, release the lease.
lifecycle.onShutdown('leadership', () => leadership.stop(), connector.shutdown_timeout_ms);
leadership.start();

/** `ingester.started`: the process took its first role, reading (the stream started) or standby. */
function announceStarted(): void {
  if (readiness.isStarted) return;
  readiness.started();
  logger.info({ role: leadership.role }, 'ingester.started');
}

/** A startup check failed for good: one fatal line, exit 1. Aborted by a shutdown: wait for it to exit. */
function exitOrShutDown(error: unknown): Promise<never> {
  if (error instanceof StartupError) {
    logger.fatal({ code: error.code, hint: error.message }, 'ingester.startup_failed');
    process.exit(1);
  }
  if (startup.signal.aborted) return new Promise<never>(() => undefined);
  throw error;
}
