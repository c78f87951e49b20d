import '../shared/process/runtime.js'; // first: refuses an unsupported Node.js before any dependency loads
import { installProcessGuard } from '../shared/process/guard.js';
import { createLogger } from '../shared/observability/logger.js';
import { Lifecycle } from '../shared/process/lifecycle.js';
import { closeServer, startMetricsServer } from '../shared/observability/metrics-server.js';
import { Readiness } from '../shared/observability/readiness.js';
import { createRedis, describeRedis } from '../shared/redis/client.js';
import { redisReadyCheck, registerRedisUpGauge } from '../shared/redis/health.js';
import { loadProcessConfig } from '../shared/process/startup.js';
import { exitOnVersionFlag } from '../shared/process/version.js';
import { loadProxySettings } from '../shared/config/load.js';
import { boardServerOptions, startBoardServer } from './board/server.js';
import { loadDispatcherConfig, workerName } from './config.js';
import { startDestination, type RunningDestination } from './destination/start.js';
import { startTemplateRunners } from './formats/runners.js';
import { failedRetention } from './worker/failed-retention.js';
import { DispatcherMetricFamilies } from './metrics.js';

exitOnVersionFlag();
const guard = installProcessGuard('dispatcher');
const config = loadProcessConfig('dispatcher', () => loadDispatcherConfig());
const proxy = loadProxySettings();
const { connector } = config;
const logger = createLogger('dispatcher', connector.log_level);
const lifecycle = new Lifecycle(logger);
lifecycle.handleSignals();

// DISPATCHER_DESTINATIONS: a subset, so a heavy destination can get replicas of its own.
const served = config.destinations.filter(({ name }) => config.dispatcher.destinations?.includes(name) ?? true);
logger.info(
  {
    connectorId: connector.id,
    destinations: served.map(({ name }) => name),
    consumerCount: connector.consumer_count,
    failedRetention: failedRetention(config.dispatcher) ?? 'keep all',
    redis: describeRedis(config.redis),
    metrics: config.metrics.enable ? `${config.metrics.addr}:${config.metrics.port}` : false,
  },
  'dispatcher.configured',
);

const redis = createRedis(config.redis, 'dispatcher', logger);
lifecycle.onShutdown('redis', () => redis.quit());

const families = new DispatcherMetricFamilies(connector.name);
// Health: /readyz (Redis ready and every worker running; each destination's breaker state) and opencti_webhook_redis_up.
const readiness = new Readiness();
registerRedisUpGauge(families.registry, redis);
const running: RunningDestination[] = [];
if (config.metrics.enable) {
  const server = await startMetricsServer({
    host: config.metrics.addr,
    port: config.metrics.port,
    registry: families.registry,
    ready: () => ({ ...readiness.status(), destinations: Object.fromEntries(running.map((destination) => [destination.name, destination.endpointState() ?? 'unknown'])) }),
  });
  lifecycle.onShutdown('metrics-server', () => closeServer(server));
}

const templates = startTemplateRunners(served);
lifecycle.onShutdown('templates', () => templates.close());
const bootAt = Date.now();
const context = {
  platform: { openctiUrl: config.opencti.url, liveStreamId: config.connector.live_stream_id },
  templates,
  connectorId: connector.id,
  consumerCount: connector.consumer_count,
  lockDurationMs: config.dispatcher.lock_duration_ms,
  workerName: workerName(config),
  retention: config.dispatcher,
  redis,
  proxy,
  families,
  logger,
  bootAt,
};
for (const destination of served) running.push(await startDestination(destination, context));
lifecycle.onShutdown('destinations', () => Promise.all(running.map((destination) => destination.close())));

// bull-board (BULL_BOARD_ENABLE); `npm run board` serves it without workers.
if (config.bull_board.enable) {
  const board = await startBoardServer(boardServerOptions(config.bull_board, connector), {
    queues: running.map(({ name, queue }) => ({ destination: name, queue })),
    redis,
    logger,
    registry: families.registry,
  });
  lifecycle.onShutdown('board', () => closeServer(board));
}

// Past the deadline the process exits with jobs still active; their locks
// expire and another dispatcher redelivers them (at least once).
lifecycle.onShutdown('workers', () => Promise.all(running.map((destination) => destination.closeWorker())), connector.shutdown_timeout_ms);
for (const { worker } of running) worker.run().catch((error: unknown) => guard.crash('worker.stopped', error));
readiness.require(redisReadyCheck(redis));
readiness.require(() => {
  // A worker the breaker paused is doing its job (waiting out an outage): only a stopped one makes the process unready.
  const stopped = running.filter(({ worker }) => !worker.isRunning() && !worker.isPaused()).map(({ name }) => name);
  return stopped.length > 0 ? `worker not running: ${stopped.join(', ')}` : undefined;
});
readiness.started();
logger.info({ destinations: running.map(({ name }) => name) }, 'dispatcher.started');
