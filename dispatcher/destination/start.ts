import { Queue, type Worker } from 'bullmq';
import type { Logger } from '../../shared/observability/logger.js';
import { progressWriter } from '../../shared/queue/bullmq-internals.js';
import { destinationKeys, queuePrefix, type EndpointState, type EventJob } from '../../shared/queue/contract.js';
import { logErrorEvents, type RedisClient } from '../../shared/redis/client.js';
import { destinationFilter } from '../../shared/routing/event-filter.js';
import type { ProxySettings } from '../../shared/net/proxy.js';
import type { DispatcherDestination } from '../config.js';
import { createDeliver } from '../delivery/deliver.js';
import { buildFormat } from '../formats/build.js';
import type { TemplateRunners } from '../formats/runners.js';
import { EntityOrder, reportOrderingMode } from '../delivery/entity-order.js';
import { RequestSlots } from '../delivery/request-slots.js';
import { EndpointBreaker } from '../endpoint/breaker.js';
import { RateLimiter } from '../endpoint/rate-limiter.js';
import type { DispatcherMetricFamilies } from '../metrics.js';
import { WebhookClient } from '../webhook/client.js';
import { describeWebhook, webhookClientOptions } from '../webhook/options.js';
import { failedRetention } from '../worker/failed-retention.js';
import { reclaimPredecessorJobs } from '../worker/reclaim.js';
import { createDeliveryWorker, MAX_STALLED } from '../worker/worker.js';

export interface DestinationContext {
  connectorId: string;
  /** CONNECTOR_CONSUMER_COUNT: a destination's concurrency unless it sets its own. */
  consumerCount: number;
  lockDurationMs: number;
  workerName: string;
  retention: Parameters<typeof failedRetention>[0];
  redis: RedisClient;
  proxy: ProxySettings;
  families: DispatcherMetricFamilies;
  /** What formats put in the request: links to the platform, the stream (CloudEvents source, Splunk source). */
  platform: { openctiUrl?: string | undefined; liveStreamId?: string | undefined };
  templates: TemplateRunners;
  logger: Logger;
  /** When this process started: what a dead predecessor of the same name left in flight is older. */
  bootAt: number;
}

/** One destination being delivered to: its queue and worker, and what it shares with the other dispatchers (breaker, rate limit, lines). */
export interface RunningDestination {
  name: string;
  queue: Queue;
  worker: Worker<EventJob>;
  /** The breaker's state as last seen (for /readyz). */
  endpointState: () => EndpointState | undefined;
  /** Stops taking events and lets the ones in flight finish. */
  closeWorker(): Promise<void>;
  /** After the worker: the breaker, the client, the queue. */
  close(): Promise<void>;
}

/**
 * Builds and starts everything one destination needs, from its settings
 * alone: two destinations share nothing but the Redis connection and the
 * process, so one that is down, slow or rate-limited never holds up another.
 */
export async function startDestination(destination: DispatcherDestination, context: DestinationContext): Promise<RunningDestination> {
  const { name, variablePrefix, settings } = destination;
  const { redis, proxy, families, connectorId } = context;
  const logger = context.logger.child({ destination: name });
  const keys = destinationKeys(connectorId, name);
  const concurrency = settings.consumer_count ?? context.consumerCount;
  const retry = { attempts: settings.retry_attempts, baseDelayMs: settings.retry_base_delay_ms, maxDelayMs: settings.retry_max_delay_ms };
  const retention = failedRetention(context.retention);
  logger.info(
    {
      ...describeWebhook(settings, proxy),
      queue: keys.queueName,
      format: settings.format,
      consumerCount: concurrency,
      requestTimeoutMs: settings.request_timeout_ms,
      retry,
      failedRetention: retention ?? 'keep all',
      outage: { failureThreshold: settings.outage_failure_threshold, probeInitialMs: settings.probe_initial_delay_ms, probeMaxMs: settings.probe_max_delay_ms },
    },
    'destination.configured',
  );

  const queue = new Queue(keys.queueName, { connection: redis, prefix: queuePrefix(connectorId) });
  logErrorEvents(queue, 'queue.error', redis, logger);
  const metrics = families.destination(name, queue);
  const client = new WebhookClient(webhookClientOptions(settings, concurrency, proxy));
  const format = buildFormat(
    {
      format: settings.format,
      ...(settings.template === undefined ? {} : { template: settings.template }),
      ...(context.platform.openctiUrl === undefined ? {} : { openctiUrl: context.platform.openctiUrl }),
      ...(context.platform.liveStreamId === undefined ? {} : { liveStreamId: context.platform.liveStreamId }),
    },
    context.templates.runnerFor(name),
  );
  let endpointState: EndpointState | undefined = 'delivering';
  const breaker = new EndpointBreaker(
    {
      redis,
      queue,
      key: keys.endpoint,
      operatorPauseKey: keys.operatorPause,
      logger,
      onObserved: (state) => {
        endpointState = state;
        metrics.endpointState(state);
      },
      onStateChange: (state) => {
        // The shared pause reaches the other replicas within a poll; this one stops fetching at once.
        // A failure leaves the shared pause in charge: the next poll pauses or resumes this worker again.
        if (state === 'paused') worker.pause(true).catch((error: Error) => logger.error({ err: { message: error.message } }, 'worker.pause_failed'));
        else worker.resume().catch((error: Error) => logger.error({ err: { message: error.message } }, 'worker.resume_failed'));
      },
    },
    { failureThreshold: settings.outage_failure_threshold, probeInitialMs: settings.probe_initial_delay_ms, probeMaxMs: settings.probe_max_delay_ms },
  );
  // Events the ingester lined up per entity (ORDERING=entity) are delivered in their object's order; the others pay nothing.
  const order = new EntityOrder({ redis, queue, orderScope: keys.orderScope, logger, onParked: () => metrics.parked() });
  const worker = createDeliveryWorker(
    { queueName: keys.queueName, connectorId, concurrency, retry, lockDurationMs: context.lockDurationMs, name: context.workerName, failedRetention: retention },
    {
      connection: redis,
      deliver: createDeliver({
        client,
        format,
        queue,
        // Requests in flight, not jobs, are what the concurrency bounds: a pack's events share these slots with every other job.
        slots: new RequestSlots(concurrency),
        writeProgress: progressWriter(redis, queue),
        breaker,
        retry,
        metrics,
        logger,
        // The ingester filters before queueing; this catches events queued before a setting changed.
        filter: destinationFilter(destination),
        failureThreshold: settings.outage_failure_threshold,
        rateLimiter: settings.rate_limit_per_second ? new RateLimiter(redis, keys.rateLimit, settings.rate_limit_per_second) : undefined,
        order,
        closing: () => worker.closing !== undefined,
      }),
      metrics,
      logger,
    },
  );
  order.attach(worker);
  breaker.start();
  await worker.waitUntilReady();
  // Before running: what a dead predecessor of this name left in flight goes out first, without waiting for its locks to expire.
  await reclaimPredecessorJobs({ redis, queue, logger }, { workerName: context.workerName, bootAt: context.bootAt, maxStalled: MAX_STALLED });
  void reportOrderingMode(redis, keys.ordering, settings.ordering, `${variablePrefix}ORDERING`, logger);
  return {
    name,
    queue,
    worker,
    endpointState: () => endpointState,
    closeWorker: () => worker.close(),
    close: async () => {
      await breaker.stop();
      await client.close();
      await queue.close();
    },
  };
}
