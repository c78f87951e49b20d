import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FORWARDED_EVENTS, type EndpointState, type ForwardedEvent } from '../shared/queue/contract.js';
import { sleep } from '../shared/timing/sleep.js';
import { FILTER_REASONS, type FilterReason } from './delivery/event-filter.js';
import { INTERNAL_OPERATIONS, type InternalOperation } from './delivery/internal-error.js';
import type { AttemptResult } from './webhook/outcome.js';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;
const ATTEMPT_RESULTS: readonly AttemptResult[] = ['2xx', '3xx', '4xx', '5xx', 'timeout', 'network', 'tls'];
/** Past this, a scrape reports no queue depth rather than wait for Redis (see collect). */
const QUEUE_COUNTS_TIMEOUT_MS = 1_000;
const ENDPOINT_STATES: readonly EndpointState[] = ['delivering', 'paused', 'probing'];
export type FailureReason = 'exhausted' | 'rejected';
/** Verdicts of a witness POST that was sent. */
type PostedVerdict = 'accepted' | 'refused' | 'failed';
const WITNESS_VERDICTS: readonly PostedVerdict[] = ['accepted', 'refused', 'failed'];

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
  readonly #gaveUp: Counter<'reason'>;
  readonly #retries: Counter;
  readonly #postponed: Counter;
  readonly #endpointState: Gauge<'state'>;
  readonly #filtered: Counter<'reason'>;
  readonly #rateLimitSeconds: Counter;
  readonly #parked: Counter;
  readonly #internalErrors: Counter<'operation'>;
  readonly #witnessChecks: Counter<'verdict'>;

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
    this.#gaveUp = new Counter({
      name: 'opencti_webhook_events_failed_total',
      help: 'Events moved to the failed (dead-letter) set: attempts exhausted, or refused with a 4xx while the endpoint accepted others',
      labelNames: ['reason'],
      registers,
    });
    this.#retries = new Counter({ name: 'opencti_webhook_delivery_retries_total', help: 'Failed attempts charged to their event and scheduled again', registers });
    this.#postponed = new Counter({
      name: 'opencti_webhook_delivery_postponed_total',
      help: 'Attempts not charged to their event (endpoint down, a 4xx not yet proven to be the event\'s fault, or our own failure around it)',
      registers,
    });
    this.#filtered = new Counter({
      name: 'opencti_webhook_events_filtered_total',
      help: 'Events acknowledged without a request because WEBHOOK_EVENT_TYPES (event_type) or WEBHOOK_ENTITY_TYPES (entity_type) excludes them',
      labelNames: ['reason'],
      registers,
    });
    this.#rateLimitSeconds = new Counter({
      name: 'opencti_webhook_rate_limit_wait_seconds_total',
      help: 'Time deliveries waited for a slot of WEBHOOK_RATE_LIMIT_PER_SECOND',
      registers,
    });
    this.#parked = new Counter({
      name: 'opencti_webhook_ordering_parked_total',
      help: 'Times an event waited because an earlier event of the same STIX object was not delivered yet (WEBHOOK_ORDERING=entity)',
      registers,
    });
    this.#endpointState = new Gauge({ name: 'opencti_webhook_endpoint_state', help: '1 for the current endpoint state: delivering, paused (outage) or probing', labelNames: ['state'], registers });
    this.endpointState('delivering');
    new Gauge({
      name: 'opencti_webhook_queue_jobs',
      help: 'Jobs in the queue, by state (a pack holds several events)',
      labelNames: ['state'],
      registers,
      async collect() {
        // While Redis is down the count waits for the reconnect; it must not hang
        // the whole scrape, which would hide opencti_webhook_redis_up=0 with it.
        // A count that fails or is late shows no series, never the last values.
        const counts = await Promise.race([
          queue.getJobCounts(...QUEUE_STATES).catch(() => undefined),
          sleep(QUEUE_COUNTS_TIMEOUT_MS, { ref: false }),
        ]);
        if (!counts) {
          this.reset();
          return;
        }
        for (const state of QUEUE_STATES) this.labels(state).set(counts[state] ?? 0);
      },
    });
    for (const action of FORWARDED_EVENTS) this.#processed.labels(connectorName, action);
    for (const result of ATTEMPT_RESULTS) this.#attempts.labels(result);
    for (const reason of ['exhausted', 'rejected'] as const) this.#gaveUp.labels(reason);
    for (const reason of FILTER_REASONS) this.#filtered.labels(reason);
    this.#internalErrors = new Counter({
      name: 'opencti_webhook_internal_errors_total',
      help: 'Attempts postponed, not charged to their event, because our own work around them failed (Redis), by operation',
      labelNames: ['operation'],
      registers,
    });
    for (const operation of INTERNAL_OPERATIONS) this.#internalErrors.labels(operation);
    this.#witnessChecks = new Counter({
      name: 'opencti_webhook_witness_checks_total',
      help: 'Events the endpoint had accepted, POSTed again to tell refused events from an endpoint refusing everything, by verdict',
      labelNames: ['verdict'],
      registers,
    });
    for (const verdict of WITNESS_VERDICTS) this.#witnessChecks.labels(verdict);
  }

  internalError(operation: InternalOperation): void {
    this.#internalErrors.labels(operation).inc();
  }

  witnessChecked(verdict: PostedVerdict): void {
    this.#witnessChecks.labels(verdict).inc();
  }

  filtered(reason: FilterReason): void {
    this.#filtered.labels(reason).inc();
  }

  rateLimitWait(waitedMs: number): void {
    this.#rateLimitSeconds.inc(waitedMs / 1000);
  }

  parked(): void {
    this.#parked.inc();
  }

  attempt(result: AttemptResult, durationMs: number): void {
    this.#attempts.labels(result).inc();
    this.#attemptSeconds.observe(durationMs / 1000);
  }

  delivered(action: ForwardedEvent, receivedAt: number): void {
    this.#processed.labels(this.connectorName, action).inc();
    this.#latencySeconds.observe(Math.max(0, Date.now() - receivedAt) / 1000);
  }

  gaveUp(reason: FailureReason): void {
    this.#gaveUp.labels(reason).inc();
  }

  retried(): void {
    this.#retries.inc();
  }

  postponed(): void {
    this.#postponed.inc();
  }

  /** undefined: not known (the shared state cannot be read); the series disappear rather than go stale. */
  endpointState(current: EndpointState | undefined): void {
    if (current === undefined) {
      this.#endpointState.reset();
      return;
    }
    for (const state of ENDPOINT_STATES) this.#endpointState.labels(state).set(state === current ? 1 : 0);
  }
}
