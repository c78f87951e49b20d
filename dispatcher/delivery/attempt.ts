import type { Logger } from '../../shared/observability/logger.js';
import type { EventJob } from '../../shared/queue/contract.js';
import type { EndpointBreaker } from '../endpoint/breaker.js';
import type { EventFilter } from '../../shared/routing/event-filter.js';
import type { DispatcherMetrics } from '../metrics.js';
import { classifyError, classifyStatus, describeError, judgeStatus, resultCode, type AttemptResult } from '../webhook/outcome.js';
import { internal } from './internal-error.js';
import type { RateLimiter } from '../endpoint/rate-limiter.js';
import type { WebhookClient } from '../webhook/client.js';
import type { Witness } from '../endpoint/witness.js';
import { FormatError, type Format, type FormattedRequest } from '../formats/format.js';

export interface AttemptDeps {
  client: WebhookClient;
  /** The destination's FORMAT: what the request carries. */
  format: Format;
  breaker: EndpointBreaker;
  metrics: DispatcherMetrics;
  logger: Logger;
  /** WEBHOOK_EVENT_TYPES / WEBHOOK_ENTITY_TYPES, when set. */
  filter?: EventFilter | undefined;
  /** WEBHOOK_RATE_LIMIT_PER_SECOND, when set. */
  rateLimiter?: RateLimiter | undefined;
  /** Sends an accepted event again to tell a bad event from an endpoint refusing everything. */
  witness: Witness;
  /** Refusals in a row, without a 2xx, after which the witness is asked (WEBHOOK_OUTAGE_FAILURE_THRESHOLD). */
  failureThreshold: number;
}

/** Events whose 4xx is awaiting proof that the endpoint works for others; bounded, oldest forgotten first. */
const MAX_REJECTIONS_TRACKED = 10_000;

/** What one attempt at one event came to; the caller turns it into BullMQ moves. */
export type Attempted =
  /** 2xx, or filtered out without a request. */
  | { kind: 'done' }
  /** The endpoint is down (breaker open) or refused the TLS handshake: wait, attempts untouched. */
  | { kind: 'endpoint_down' }
  /** A 4xx not yet proven to be the event's fault: wait a base delay, attempts untouched. */
  | { kind: 'refused' }
  /** A 4xx after the endpoint accepted another event since the first refusal: dead-letter it. */
  | { kind: 'rejected'; message: string }
  /** Anything else: an attempt charged to the event, retried with backoff. */
  | { kind: 'failed'; message: string; retryAfterMs: number | undefined };

/**
 * One attempt at one event, the hot path: POST the stored body as is (never
 * parsed or re-serialised) and decide, in one place, what a failure costs.
 * Events outside the allow-lists are done without a request. `claim` runs
 * after the filter (per-entity ordering: wait for the object's turn); then the
 * request takes its slot from the shared rate limit. Our own failures there
 * (Redis) throw an InternalError: never the event's (see deliver.ts).
 *
 * A 4xx (other than 408/429) costs nothing until the endpoint is seen to
 * accept another event after the event's first refusal; then the event is
 * dead-lettered. Refusals never count toward the outage breaker by
 * themselves: when one stays unproven (the event refused a second time, or
 * `failureThreshold` refusals in a row, or the refusal came as a probe), the
 * witness (endpoint/witness.ts) asks the endpoint about an event it accepted before.
 * Accepted: the refusals are the events' fault. Refused too: the endpoint
 * refuses everything (a 401 for a revoked token): an outage. With no witness
 * known, each refusal counts toward the breaker, as any failure.
 */
export function createAttempt({ client, format, breaker, metrics, logger, filter, rateLimiter, witness, failureThreshold }: AttemptDeps) {
  const firstRejectedAt = new Map<string, number>();
  let refusalsInARow = 0;

  /** A 4xx: the event's fault (rejected), not known yet (refused), or the endpoint's (endpoint_down). */
  async function judgeRefusal(id: string, attempt: number, reason: string): Promise<Attempted> {
    refusalsInARow += 1;
    const refusedBefore = firstRejectedAt.get(id);
    const since = refusedBefore ?? Date.now();
    if (refusedBefore === undefined) remember(firstRejectedAt, id, since);
    if (!breaker.succeededSince(since)) {
      if (!(await witness.available())) {
        // Nothing can prove the endpoint works: a refusal may be an outage, so it counts like any failure.
        if (breaker.recordFailure(reason)) return endpointDown(id, attempt, reason);
      } else if (refusedBefore !== undefined || refusalsInARow >= failureThreshold || breaker.state !== 'delivering') {
        const verdict = await witness.check();
        if (verdict.kind === 'accepted') succeeded();
        else if (verdict.kind === 'refused') {
          breaker.recordFailure(`every event refused: ${verdict.reason}`, 0, true);
          return endpointDown(id, attempt, reason);
        } else if (verdict.kind === 'failed') {
          if (breaker.recordFailure(verdict.reason, verdict.retryAfterMs, verdict.endpointLevel, verdict.code)) return endpointDown(id, attempt, reason);
        } else if (breaker.state !== 'delivering') {
          // A refused probe, the witness asked moments ago and not accepted since: still out; probe again later.
          breaker.recordFailure(reason, 0, true);
          return endpointDown(id, attempt, reason);
        }
      }
    }
    if (breaker.succeededSince(since)) {
      firstRejectedAt.delete(id);
      return { kind: 'rejected', message: `webhook refused the event: ${reason}` };
    }
    logger.warn({ jobId: id, attempt, reason }, 'delivery.refused');
    return { kind: 'refused' };
  }

  function succeeded(): void {
    breaker.recordSuccess();
    refusalsInARow = 0;
  }

  function endpointDown(id: string, attempt: number, reason: string): Attempted {
    logger.debug({ jobId: id, attempt, reason }, 'delivery.postponed');
    return { kind: 'endpoint_down' };
  }

  return async (id: string, job: EventJob, attempt: number, claim?: () => Promise<void>): Promise<Attempted> => {
    const { event, streamId, body, receivedAt } = job;
    const filtered = filter?.(event, body);
    if (filtered !== undefined) {
      metrics.filtered(filtered);
      logger.debug({ jobId: id, event, reason: filtered }, 'delivery.filtered');
      return { kind: 'done' };
    }
    if (claim) await internal('entity_order', claim);
    // Before the rate limit: an event its format cannot carry takes no slot and goes to the failed set with the reason.
    let request: FormattedRequest;
    try {
      const formatted = format.format({ webhookId: id, event, streamId, body });
      // raw and cloudevents answer at once: no promise to wait for on the hot path.
      request = formatted instanceof Promise ? await formatted : formatted;
    } catch (error) {
      if (!(error instanceof FormatError)) throw error;
      logger.warn({ jobId: id, attempt, code: error.code, failure: error.reason, reason: error.message }, 'delivery.format_failed');
      return { kind: 'rejected', message: `format ${format.name} failed: ${error.message}` };
    }
    if (rateLimiter) metrics.rateLimitWait(await internal('rate_limit', () => rateLimiter.acquire()));
    const started = performance.now();

    let result: AttemptResult;
    let reason: string;
    let verdict: ReturnType<typeof judgeStatus>;
    try {
      const response = await client.post(id, request.body, { ...request.headers, 'x-opencti-event': event, 'x-opencti-event-id': streamId });
      result = classifyStatus(response.status);
      verdict = judgeStatus(response.status, response.retryAfter);
      reason = `HTTP ${response.status}${response.excerpt ? `: ${response.excerpt}` : ''}`;
    } catch (error) {
      result = classifyError(error);
      verdict = { kind: 'retry' };
      reason = describeError(error, result);
    }
    const durationMs = performance.now() - started;
    metrics.attempt(result, durationMs);

    if (verdict.kind === 'delivered') {
      succeeded();
      witness.remember(id, job);
      firstRejectedAt.delete(id);
      metrics.delivered(event, receivedAt);
      logger.debug({ jobId: id, attempt, durationMs: Math.round(durationMs) }, 'delivery.succeeded');
      return { kind: 'done' };
    }
    if (verdict.kind === 'rejected') return judgeRefusal(id, attempt, reason);

    const retryAfterMs = verdict.retryAfterMs;
    if (breaker.recordFailure(reason, retryAfterMs, result === 'tls', resultCode(result))) return endpointDown(id, attempt, reason);
    logger.warn({ jobId: id, attempt, reason }, 'delivery.failed');
    return { kind: 'failed', message: `webhook: ${reason}`, retryAfterMs };
  };
}

function remember(map: Map<string, number>, key: string, value: number): void {
  if (map.size >= MAX_REJECTIONS_TRACKED) map.delete(map.keys().next().value as string);
  map.set(key, value);
}
