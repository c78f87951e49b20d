/**
 * The board without the workers (`npm run board`): one process serving
 * bull-board for a connector's queues, one per destination, so a deployment
 * publishes a single board while dispatchers scale. It needs no webhook
 * settings (only the destinations' names) and delivers nothing;
 * BULL_BOARD_ENABLE is not read (serving the board is its job).
 */
import '../../shared/process/runtime.js'; // first: refuses an unsupported Node.js before any dependency loads
import { Queue } from 'bullmq';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { installProcessGuard } from '../../shared/process/guard.js';
import { createLogger } from '../../shared/observability/logger.js';
import { Lifecycle } from '../../shared/process/lifecycle.js';
import { closeServer, startMetricsServer } from '../../shared/observability/metrics-server.js';
import { destinationKeys, queuePrefix } from '../../shared/queue/contract.js';
import { Readiness } from '../../shared/observability/readiness.js';
import { createRedis, describeRedis, logErrorEvents } from '../../shared/redis/client.js';
import { redisReadyCheck, registerRedisUpGauge } from '../../shared/redis/health.js';
import { loadProcessConfig } from '../../shared/process/startup.js';
import { exitOnVersionFlag } from '../../shared/process/version.js';
import { boardServerOptions, startBoardServer } from './server.js';
import { loadBoardConfig } from '../config.js';

exitOnVersionFlag();
installProcessGuard('board');
const config = loadProcessConfig('board', () => loadBoardConfig());
const { connector } = config;
const logger = createLogger('board', connector.log_level);
const lifecycle = new Lifecycle(logger);
lifecycle.handleSignals();
logger.info(
  {
    connectorId: connector.id,
    destinations: config.destinations.map(({ name }) => name),
    redis: describeRedis(config.redis),
    metrics: config.metrics.enable ? `${config.metrics.addr}:${config.metrics.port}` : false,
  },
  'board.configured',
);

const redis = createRedis(config.redis, 'board', logger);
lifecycle.onShutdown('redis', () => redis.quit());
const queues = config.destinations.map(({ name }) => {
  const queue = new Queue(destinationKeys(connector.id, name).queueName, { connection: redis, prefix: queuePrefix(connector.id) });
  logErrorEvents(queue, 'queue.error', redis, logger);
  return { destination: name, queue };
});
lifecycle.onShutdown('queues', () => Promise.all(queues.map(({ queue }) => queue.close())));

const readiness = new Readiness();
readiness.require(redisReadyCheck(redis));
// Always created, served only with METRICS_ENABLE: the board counts discarded dead letters on it.
const registry = new Registry();
if (config.metrics.enable) {
  collectDefaultMetrics({ register: registry });
  registerRedisUpGauge(registry, redis);
  const server = await startMetricsServer({ host: config.metrics.addr, port: config.metrics.port, registry, ready: () => readiness.status() });
  lifecycle.onShutdown('metrics-server', () => closeServer(server));
}

const board = await startBoardServer(boardServerOptions(config.bull_board, connector), { queues, redis, logger, registry });
lifecycle.onShutdown('board', () => closeServer(board));
readiness.started();
logger.info('board.started');
