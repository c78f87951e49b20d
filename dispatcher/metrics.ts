import { setTimeout as delay } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FORWARDED_EVENTS, type ForwardedEvent } from '../shared/queue.js';
import type { AttemptResult } from './outcome.js';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;
const ATTEMPT_RESULTS: readonly AttemptResult[] = ['2xx', '3xx', '4xx', '5xx', 'timeout', 'network'];
/** Past this, a scrape reports no queue depth rather than wait for Redis (see collect). */
const QUEUE_COUNTS_TIMEOUT_MS = 1_000;

/**
 * The dispatcher's metrics. `processed_messages_total{name,action}` keeps the
 * original connector's name and labels but counts only events the endpoint
 * acknowledged with a 2xx.
 */
export class DispatcherMetrics {
  readonly registry = new Registry();
  readonly #processed: Counter<'name' | 'action'>;
  readonly #attempts: Counter<'result'>;
  readonly #attemptSeconds: Histogram;
  readonly #latencySeconds: Histogram;
  readonly #gaveUp: Counter;

  constructor(
    private readonly connectorName: string,
    queue: Queue,
  ) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.#processed = new Counter({ name: 'processed_messages_total', help: 'Events delivered to the webhook (2xx), by SSE event name', labelNames: ['name', 'action'], registers });
    this.#attempts = new Counter({ name: 'opencti_webhook_delivery_attempts_total', help: 'Delivery attempts, by result', labelNames: ['result'], registers });
    this.#attemptSeconds = new Histogram({
      name: 'opencti_webhook_delivery_duration_seconds',
      help: 'Duration of one POST to the webhook',
      buckets: [0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#latencySeconds = new Histogram({
      name: 'opencti_webhook_event_latency_seconds',
      help: 'From the ingester reading the event to the webhook acknowledging it',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600, 3600],
      registers,
    });
    this.#gaveUp = new Counter({ name: 'opencti_webhook_events_failed_total', help: 'Events moved to the failed set after their last attempt', registers });
    new Gauge({
      name: 'opencti_webhook_queue_jobs',
      help: 'Events in the queue, by state',
      labelNames: ['state'],
      registers,
      async collect() {
        // While Redis is down the count waits for the reconnect; it must not hang
        // the whole scrape, which would hide opencti_webhook_redis_up=0 with it.
        const counts = await Promise.race([queue.getJobCounts(...QUEUE_STATES), delay(QUEUE_COUNTS_TIMEOUT_MS, undefined, { ref: false })]);
        if (!counts) {
          this.reset();
          return;
        }
        for (const state of QUEUE_STATES) this.labels(state).set(counts[state] ?? 0);
      },
    });
    for (const action of FORWARDED_EVENTS) this.#processed.labels(connectorName, action);
    for (const result of ATTEMPT_RESULTS) this.#attempts.labels(result);
  }

  attempt(result: AttemptResult, durationMs: number): void {
    this.#attempts.labels(result).inc();
    this.#attemptSeconds.observe(durationMs / 1000);
  }

  delivered(action: ForwardedEvent, receivedAt: number): void {
    this.#processed.labels(this.connectorName, action).inc();
    this.#latencySeconds.observe(Math.max(0, Date.now() - receivedAt) / 1000);
  }

  gaveUp(): void {
    this.#gaveUp.inc();
  }
}
