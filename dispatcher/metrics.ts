import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FORWARDED_EVENTS, type EndpointState, type ForwardedEvent } from '../shared/queue/contract.js';
import { sleep } from '../shared/timing/sleep.js';
import { FILTER_REASONS, type FilterReason } from '../shared/routing/event-filter.js';
import { INTERNAL_OPERATIONS, type InternalOperation } from './delivery/internal-error.js';
import type { AttemptResult } from './webhook/outcome.js';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;
const ATTEMPT_RESULTS: readonly AttemptResult[] = ['2xx', '3xx', '4xx', '5xx', 'timeout', 'network', 'tls'];
/** Past this, a scrape reports no queue depth rather than wait for Redis (see collect). */
const QUEUE_COUNTS_TIMEOUT_MS = 1_000;
const ENDPOINT_STATES: readonly EndpointState[] = ['delivering', 'paused', 'probing'];
export type FailureReason = 'exhausted' | 'rejected';
const FAILURE_REASONS: readonly FailureReason[] = ['exhausted', 'rejected'];
/** The dispatcher only re-checks the allow-lists and markings (events queued before a change); FILTER runs in the ingester. */
const DISPATCHER_FILTER_REASONS = FILTER_REASONS.filter((reason) => reason !== 'filter' && reason !== 'filter_failed');
/** Verdicts of a witness POST that was sent. */
type PostedVerdict = 'accepted' | 'refused' | 'failed';
const WITNESS_VERDICTS: readonly PostedVerdict[] = ['accepted', 'refused', 'failed'];

/** What every dispatcher metric is split by, besides its own labels. */
type D = 'destination';

/**
 * The dispatcher's metric families, one registry per process. Every series
 * carries the `destination` label; `processed_messages_total{name,action}`
 * keeps the original connector's name and labels (plus `destination`) but
 * counts only events the endpoint acknowledged with a 2xx. Each destination
 * gets its children bound once (`destination()`), so the hot path does no
 * label lookup.
 */
export class DispatcherMetricFamilies {
  readonly registry = new Registry();
  readonly processed: Counter<'name' | 'action' | D>;
  readonly attempts: Counter<'result' | D>;
  readonly attemptSeconds: Histogram<D>;
  readonly latencySeconds: Histogram<D>;
  readonly gaveUp: Counter<'reason' | D>;
  readonly retries: Counter<D>;
  readonly postponed: Counter<D>;
  readonly endpointState: Gauge<'state' | D>;
  readonly filtered: Counter<'reason' | D>;
  readonly rateLimitSeconds: Counter<D>;
  readonly parked: Counter<D>;
  readonly internalErrors: Counter<'operation' | D>;
  readonly witnessChecks: Counter<'verdict' | D>;
  readonly #queues = new Map<string, Queue>();

  constructor(readonly connectorName: string) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.processed = new Counter({ name: 'processed_messages_total', help: 'Events delivered to the webhook (2xx), by SSE event name', labelNames: ['name', 'action', 'destination'], registers });
    this.attempts = new Counter({ name: 'opencti_webhook_delivery_attempts_total', help: 'Delivery attempts, by result', labelNames: ['result', 'destination'], registers });
    this.attemptSeconds = new Histogram({
      name: 'opencti_webhook_delivery_duration_seconds',
      help: 'Duration of one POST to the webhook',
      buckets: [0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      labelNames: ['destination'],
      registers,
    });
    this.latencySeconds = new Histogram({
      name: 'opencti_webhook_event_latency_seconds',
      help: 'From the ingester reading the event to the webhook acknowledging it',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600, 3600],
      labelNames: ['destination'],
      registers,
    });
    this.gaveUp = new Counter({
      name: 'opencti_webhook_events_failed_total',
      help: 'Events moved to the failed (dead-letter) set: attempts exhausted, or refused with a 4xx while the endpoint accepted others',
      labelNames: ['reason', 'destination'],
      registers,
    });
    this.retries = new Counter({ name: 'opencti_webhook_delivery_retries_total', help: 'Failed attempts charged to their event and scheduled again', labelNames: ['destination'], registers });
    this.postponed = new Counter({
      name: 'opencti_webhook_delivery_postponed_total',
      help: 'Attempts not charged to their event (endpoint down, a 4xx not yet proven to be the event\'s fault, or our own failure around it)',
      labelNames: ['destination'],
      registers,
    });
    this.filtered = new Counter({
      name: 'opencti_webhook_events_filtered_total',
      help: 'Events acknowledged without a request because the destination\'s EVENT_TYPES (event_type), ENTITY_TYPES (entity_type) or MARKINGS_EXCLUDE (marking) excludes them: events queued before the setting changed',
      labelNames: ['reason', 'destination'],
      registers,
    });
    this.rateLimitSeconds = new Counter({
      name: 'opencti_webhook_rate_limit_wait_seconds_total',
      help: 'Time deliveries waited for a slot of the destination\'s RATE_LIMIT_PER_SECOND',
      labelNames: ['destination'],
      registers,
    });
    this.parked = new Counter({
      name: 'opencti_webhook_ordering_parked_total',
      help: 'Times an event waited because an earlier event of the same STIX object was not delivered yet (ORDERING=entity)',
      labelNames: ['destination'],
      registers,
    });
    this.endpointState = new Gauge({
      name: 'opencti_webhook_endpoint_state',
      help: '1 for the current endpoint state: delivering, paused (outage) or probing',
      labelNames: ['state', 'destination'],
      registers,
    });
    this.internalErrors = new Counter({
      name: 'opencti_webhook_internal_errors_total',
      help: 'Attempts postponed, not charged to their event, because our own work around them failed (Redis), by operation',
      labelNames: ['operation', 'destination'],
      registers,
    });
    this.witnessChecks = new Counter({
      name: 'opencti_webhook_witness_checks_total',
      help: 'Events the endpoint had accepted, POSTed again to tell refused events from an endpoint refusing everything, by verdict',
      labelNames: ['verdict', 'destination'],
      registers,
    });
    const queues = this.#queues;
    new Gauge({
      name: 'opencti_webhook_queue_jobs',
      help: 'Jobs in the queue, by state (a pack holds several events)',
      labelNames: ['state', 'destination'],
      registers,
      async collect() {
        // While Redis is down the count waits for the reconnect; it must not hang
        // the whole scrape, which would hide opencti_webhook_redis_up=0 with it.
        // A count that fails or is late shows no series, never the last values.
        this.reset();
        await Promise.all(
          [...queues].map(async ([destination, queue]) => {
            const counts = await Promise.race([queue.getJobCounts(...QUEUE_STATES).catch(() => undefined), sleep(QUEUE_COUNTS_TIMEOUT_MS, { ref: false })]);
            if (counts) for (const state of QUEUE_STATES) this.labels(state, destination).set(counts[state] ?? 0);
          }),
        );
      },
    });
  }

  /** The metrics of one destination, whose queue the depth gauge counts. */
  destination(name: string, queue: Queue): DispatcherMetrics {
    this.#queues.set(name, queue);
    return new DispatcherMetrics(this, name);
  }
}

/** One destination's metrics: its children of every family, bound once. */
export class DispatcherMetrics {
  readonly #processed: Record<ForwardedEvent, Counter.Internal>;
  readonly #attempts: Record<AttemptResult, Counter.Internal>;
  readonly #attemptSeconds: Histogram.Internal<D>;
  readonly #latencySeconds: Histogram.Internal<D>;
  readonly #gaveUp: Record<FailureReason, Counter.Internal>;
  readonly #retries: Counter.Internal;
  readonly #postponed: Counter.Internal;
  readonly #filtered: Partial<Record<FilterReason, Counter.Internal>>;
  readonly #rateLimitSeconds: Counter.Internal;
  readonly #parked: Counter.Internal;
  readonly #internalErrors: Record<InternalOperation, Counter.Internal>;
  readonly #witnessChecks: Record<PostedVerdict, Counter.Internal>;
  readonly #endpointState: Record<EndpointState, Gauge.Internal<'state' | D>>;

  constructor(
    private readonly families: DispatcherMetricFamilies,
    readonly destination: string,
  ) {
    const bind = <L extends string, T>(values: readonly L[], child: (value: L) => T): Record<L, T> =>
      Object.fromEntries(values.map((value) => [value, child(value)])) as Record<L, T>;
    this.#processed = bind(FORWARDED_EVENTS, (action) => families.processed.labels(families.connectorName, action, destination));
    this.#attempts = bind(ATTEMPT_RESULTS, (result) => families.attempts.labels(result, destination));
    this.#attemptSeconds = families.attemptSeconds.labels(destination);
    this.#latencySeconds = families.latencySeconds.labels(destination);
    this.#gaveUp = bind(FAILURE_REASONS, (reason) => families.gaveUp.labels(reason, destination));
    this.#retries = families.retries.labels(destination);
    this.#postponed = families.postponed.labels(destination);
    this.#filtered = bind(DISPATCHER_FILTER_REASONS, (reason) => families.filtered.labels(reason, destination));
    this.#rateLimitSeconds = families.rateLimitSeconds.labels(destination);
    this.#parked = families.parked.labels(destination);
    this.#internalErrors = bind(INTERNAL_OPERATIONS, (operation) => families.internalErrors.labels(operation, destination));
    this.#witnessChecks = bind(WITNESS_VERDICTS, (verdict) => families.witnessChecks.labels(verdict, destination));
    this.#endpointState = bind(ENDPOINT_STATES, (state) => families.endpointState.labels(state, destination));
    this.endpointState('delivering');
  }

  /** The registry all destinations share (tests read it). */
  get registry(): Registry {
    return this.families.registry;
  }

  internalError(operation: InternalOperation): void {
    this.#internalErrors[operation].inc();
  }

  witnessChecked(verdict: PostedVerdict): void {
    this.#witnessChecks[verdict].inc();
  }

  filtered(reason: FilterReason): void {
    (this.#filtered[reason] ?? this.families.filtered.labels(reason, this.destination)).inc();
  }

  rateLimitWait(waitedMs: number): void {
    this.#rateLimitSeconds.inc(waitedMs / 1000);
  }

  parked(): void {
    this.#parked.inc();
  }

  attempt(result: AttemptResult, durationMs: number): void {
    this.#attempts[result].inc();
    this.#attemptSeconds.observe(durationMs / 1000);
  }

  delivered(action: ForwardedEvent, receivedAt: number): void {
    this.#processed[action].inc();
    this.#latencySeconds.observe(Math.max(0, Date.now() - receivedAt) / 1000);
  }

  gaveUp(reason: FailureReason): void {
    this.#gaveUp[reason].inc();
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
      for (const state of ENDPOINT_STATES) this.families.endpointState.remove(state, this.destination);
      return;
    }
    for (const state of ENDPOINT_STATES) {
      // A removed child is no longer in the family: bind it again.
      const child = this.families.endpointState.labels(state, this.destination);
      this.#endpointState[state] = child;
      child.set(state === current ? 1 : 0);
    }
  }
}
