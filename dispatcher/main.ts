import { Queue } from 'bullmq';
import { installProcessGuard } from '../shared/process/guard.js';
import { createLogger } from '../shared/observability/logger.js';
import { Lifecycle } from '../shared/process/lifecycle.js';
import { closeServer, startMetricsServer } from '../shared/observability/metrics-server.js';
import { QUEUE_NAME, endpointKey, operatorPauseKey, orderingModeKey, queuePrefix, rateLimitKey } from '../shared/queue/contract.js';
import { Readiness } from '../shared/observability/readiness.js';
import { createRedis, describeRedis, logErrorEvents } from '../shared/redis/client.js';
import { redisReadyCheck, registerRedisUpGauge } from '../shared/redis/health.js';
import { loadConfigOrExit } from '../shared/process/startup.js';
import { loadProxySettings } from '../shared/config/load.js';
import { resolveMarkings } from '../shared/opencti/markings.js';
import { boardServerOptions, startBoardServer } from './board/server.js';
import { DispatcherConfigSchema, workerName } from './config.js';
import { createDeliver } from './delivery/deliver.js';
import { EndpointBreaker } from './endpoint/breaker.js';
import { EntityOrder, reportOrderingMode } from './delivery/entity-order.js';
import { createEventFilter } from './delivery/event-filter.js';
import { failedRetention } from './worker/failed-retention.js';
import { DispatcherMetrics } from './metrics.js';
import { RateLimiter } from './endpoint/rate-limiter.js';
import { reclaimPredecessorJobs } from './worker/reclaim.js';
import { WebhookClient } from './webhook/client.js';
import { describeWebhook, webhookClientOptions } from './webhook/options.js';
import { createDeliveryWorker, MAX_STALLED } from './worker/worker.js';

const guard = installProcessGuard('dispatcher');
const config = loadConfigOrExit(DispatcherConfigSchema, 'dispatcher');
const proxy = loadProxySettings();
const { connector, webhook } = config;
const logger = createLogger('dispatcher', connector.log_level);
const lifecycle = new Lifecycle(logger);
lifecycle.handleSignals();

const retry = { attempts: webhook.retry_attempts, baseDelayMs: webhook.retry_base_delay_ms, maxDelayMs: webhook.retry_max_delay_ms };
logger.info(
  {
    connectorId: connector.id,
    ...describeWebhook(webhook, proxy),
    consumerCount: connector.consumer_count,
    requestTimeoutMs: webhook.request_timeout_ms,
    retry,
    failedRetention: failedRetention(config.dispatcher) ?? 'keep all',
    outage: { failureThreshold: webhook.outage_failure_threshold, probeInitialMs: webhook.probe_initial_delay_ms, probeMaxMs: webhook.probe_max_delay_ms },
    redis: describeRedis(config.redis),
    metrics: config.metrics.enable ? `${config.metrics.addr}:${config.metrics.port}` : false,
  },
  'dispatcher.configured',
);

const redis = createRedis(config.redis, 'dispatcher', logger);
lifecycle.onShutdown('redis', () => redis.quit());
const queue = new Queue(QUEUE_NAME, { connection: redis, prefix: queuePrefix(connector.id) });
logErrorEvents(queue, 'queue.error', redis, logger);
lifecycle.onShutdown('queue', () => queue.close());

const client = new WebhookClient(webhookClientOptions(webhook, connector.consumer_count, proxy));
lifecycle.onShutdown('webhook-client', () => client.close(), 2_000);

const metrics = new DispatcherMetrics(connector.name, queue);
// Health: /readyz (Redis ready and worker running) and opencti_webhook_redis_up.
const readiness = new Readiness();
registerRedisUpGauge(metrics.registry, redis);
if (config.metrics.enable) {
  const server = await startMetricsServer({ host: config.metrics.addr, port: config.metrics.port, registry: metrics.registry, ready: () => readiness.status() });
  lifecycle.onShutdown('metrics-server', () => closeServer(server));
}

// bull-board (BULL_BOARD_ENABLE); `npm run board` serves it without workers.
if (config.bull_board.enable) {
  const board = await startBoardServer(boardServerOptions(config.bull_board, connector), { queue, redis, logger, registry: metrics.registry });
  lifecycle.onShutdown('board', () => closeServer(board));
}

const breaker = new EndpointBreaker(
  {
    redis,
    queue,
    key: endpointKey(connector.id),
    operatorPauseKey: operatorPauseKey(connector.id),
    logger,
    onObserved: (state) => metrics.endpointState(state),
    onStateChange: (state) => {
      // The shared pause reaches the other replicas within a poll; this one stops fetching at once.
      // A failure leaves the shared pause in charge: the next poll pauses or resumes this worker again.
      if (state === 'paused') worker.pause(true).catch((error: Error) => logger.error({ err: { message: error.message } }, 'worker.pause_failed'));
      else worker.resume().catch((error: Error) => logger.error({ err: { message: error.message } }, 'worker.resume_failed'));
    },
  },
  { failureThreshold: webhook.outage_failure_threshold, probeInitialMs: webhook.probe_initial_delay_ms, probeMaxMs: webhook.probe_max_delay_ms },
);
// Events the ingester lined up per entity (WEBHOOK_ORDERING=entity) are delivered in their object's order; the others pay nothing.
const order = new EntityOrder({ redis, queue, logger, onParked: () => metrics.parked() });
const bootAt = Date.now();
const worker = createDeliveryWorker(
  { connectorId: connector.id, concurrency: connector.consumer_count, retry, lockDurationMs: config.dispatcher.lock_duration_ms, name: workerName(config), failedRetention: failedRetention(config.dispatcher) },
  {
    connection: redis,
    deliver: createDeliver({
      client,
      queue,
      breaker,
      retry,
      metrics,
      logger,
      filter: createEventFilter({
        eventTypes: webhook.event_types,
        entityTypes: webhook.entity_types,
        excludedMarkings: webhook.markings_exclude && resolveMarkings(webhook.markings_exclude, 'WEBHOOK_MARKINGS_EXCLUDE'),
      }),
      failureThreshold: webhook.outage_failure_threshold,
      rateLimiter: webhook.rate_limit_per_second ? new RateLimiter(redis, rateLimitKey(connector.id), webhook.rate_limit_per_second) : undefined,
      order,
      closing: () => worker.closing !== undefined,
    }),
    metrics,
    logger,
  },
);
order.attach(worker);
// Past the deadline the process exits with jobs still active; their locks
// expire and another dispatcher redelivers them (at least once).
lifecycle.onShutdown('worker', () => worker.close(), connector.shutdown_timeout_ms);
breaker.start();
lifecycle.onShutdown('endpoint-breaker', () => breaker.stop());
await worker.waitUntilReady();
// Before running: what a dead predecessor of this name left in flight goes out first, without waiting for its locks to expire.
await reclaimPredecessorJobs({ redis, queue, logger }, { workerName: workerName(config), bootAt, maxStalled: MAX_STALLED });
worker.run().catch((error: unknown) => guard.crash('worker.stopped', error));
readiness.require(redisReadyCheck(redis));
readiness.require(() => (worker.isRunning() ? undefined : 'worker not running'));
readiness.started();
logger.info('dispatcher.started');
void reportOrderingMode(redis, orderingModeKey(connector.id), webhook.ordering, logger);
